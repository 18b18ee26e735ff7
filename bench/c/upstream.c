#define _GNU_SOURCE
/* A minimal keep-alive plugin: answers a RequestPool with 10.0.0.0/8, every other request
 * with a RequestAddress answer.
 * Usage: upstream SOCKET_PATH [fixed] [work NS].  One thread per connection; frames requests
 * by Content-Length.  Each answer hands out the next address of 10.0.0.0/8 (an allocator that
 * never repeats itself, as far as a validator can tell); with "fixed", every answer is
 * 10.0.0.2/8 (the validator then finds an address handed out twice on every exchange).
 * With "work NS", the thread keeps its CPU busy for NS nanoseconds before each answer: a
 * plugin doing that much work a call, without Python or an event loop around it. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char HEAD[] =
    "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.plugins.v1.2+json\r\n"
    "Date: Tue, 01 Dec 2026 00:00:00 GMT\r\nContent-Length: %zu\r\n\r\n%s";
static int fixed;
static long work_ns;
static atomic_ulong handed_out;

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

static void work(void) {
    if (work_ns <= 0) return;
    long until = now_ns() + work_ns;
    while (now_ns() < until) {
    }
}

static int make_answer(char *out, size_t size, int pool) {
    char body[96];
    if (pool) {
        snprintf(body, sizeof body,
                 "{\"PoolID\":\"LocalDefault/10.0.0.0/8\",\"Pool\":\"10.0.0.0/8\",\"Data\":{}}\n");
    } else if (fixed) {
        snprintf(body, sizeof body, "{\"Address\":\"10.0.0.2/8\",\"Data\":{}}\n");
    } else {
        unsigned long n = 1 + atomic_fetch_add(&handed_out, 1) % 16777213UL;  /* .0.0.1 on */
        snprintf(body, sizeof body, "{\"Address\":\"10.%lu.%lu.%lu/8\",\"Data\":{}}\n",
                 n >> 16 & 255, n >> 8 & 255, n & 255);
    }
    return snprintf(out, size, HEAD, strlen(body), body);
}

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
            char answer[512];
            work();
            int pool = memmem(buf, head, "/IpamDriver.RequestPool ", 24) != NULL;
            int answer_len = make_answer(answer, sizeof answer, pool);
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
    if (argc < 2) return 2;
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "fixed") == 0) {
            fixed = 1;
        } else if (strcmp(argv[i], "work") == 0 && i + 1 < argc) {
            work_ns = atol(argv[++i]);
        } else {
            fprintf(stderr, "usage: upstream SOCKET_PATH [fixed] [work NS]\n");
            return 2;
        }
    }
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
