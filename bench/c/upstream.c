#define _GNU_SOURCE
/* A minimal keep-alive plugin: answers every request with one fixed RequestAddress answer.
 * Usage: upstream SOCKET_PATH.  One thread per connection; frames requests by Content-Length. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char BODY[] = "{\"Address\":\"10.4.0.2/16\",\"Data\":{}}\n";
static char answer[512];
static int answer_len;

static long content_length(const char *head, size_t len) {
    for (size_t i = 0; i + 15 < len; i++)
        if (strncasecmp(head + i, "\r\ncontent-length:", 17) == 0) return atol(head + i + 17);
    return 0;
}

static void *serve(void *arg) {
    int fd = (int)(long)arg;
    char buf[65536];
    size_t have = 0;
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof buf - have);
        if (n <= 0) break;
        have += (size_t)n;
        for (;;) {
            char *end = memmem(buf, have, "\r\n\r\n", 4);
            if (!end) break;
            size_t head = (size_t)(end - buf) + 4;
            size_t total = head + (size_t)content_length(buf, head);
            if (have < total) break;
            if (write(fd, answer, (size_t)answer_len) != answer_len) goto out;
            memmove(buf, buf + total, have - total);
            have -= total;
        }
    }
out:
    close(fd);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) return 2;
    answer_len = snprintf(answer, sizeof answer,
        "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.plugins.v1.2+json\r\n"
        "Date: Tue, 01 Dec 2026 00:00:00 GMT\r\nContent-Length: %zu\r\n\r\n%s",
        strlen(BODY), BODY);
    int server = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strncpy(addr.sun_path, argv[1], sizeof addr.sun_path - 1);
    unlink(argv[1]);
    if (bind(server, (struct sockaddr *)&addr, sizeof addr) || listen(server, 4096)) {
        perror("upstream");
        return 1;
    }
    for (;;) {
        int fd = accept(server, NULL, NULL);
        if (fd < 0) continue;
        pthread_t t;
        pthread_create(&t, NULL, serve, (void *)(long)fd);
        pthread_detach(t);
    }
}
