#define _GNU_SOURCE
/* Fill a pool one address at a time over a plugin socket, with dockerd's exact requests.
 * Usage: fill SOCKET_PATH POOL COUNT
 * One keep-alive connection: RequestPool for POOL, then COUNT RequestAddress calls from it.
 * Every answer must be a 200 (and each RequestAddress answer name an Address), else exit 1.
 * Prints "calls_per_second" of the RequestAddress calls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const char HEAD[] =
    "POST /IpamDriver.%s HTTP/1.1\r\nHost: \r\nUser-Agent: Go-http-client/1.1\r\n"
    "Content-Length: %zu\r\nAccept: application/vnd.docker.plugins.v1.2+json\r\n"
    "Accept-Encoding: gzip\r\n\r\n%s";

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int request(char *out, size_t size, const char *endpoint, const char *body) {
    return snprintf(out, size, HEAD, endpoint, strlen(body), body);
}

/* Send one request, read its whole answer; 0 when it is a 200 whose body holds `needle`. */
static int call(int fd, const char *raw, int len, const char *needle) {
    static char buf[65536];
    if (write(fd, raw, (size_t)len) != len) return -1;
    size_t have = 0;
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
        if (n <= 0) return -1;
        have += (size_t)n;
        buf[have] = 0;
        char *end = memmem(buf, have, "\r\n\r\n", 4);
        if (!end) continue;
        size_t head = (size_t)(end - buf) + 4;
        long length = -1;
        for (size_t i = 0; i + 17 < head; i++)
            if (strncasecmp(buf + i, "\r\ncontent-length:", 17) == 0) length = atol(buf + i + 17);
        if (length < 0) return -1;
        if (have < head + (size_t)length) continue;
        if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0) return -1;
        return strstr(buf + head, needle) ? 0 : -1;
    }
}

int main(int argc, char **argv) {
    if (argc != 4) return 2;
    const char *pool = argv[2];
    long count = atol(argv[3]);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strncpy(addr.sun_path, argv[1], sizeof addr.sun_path - 1);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr)) {
        perror("fill connect");
        return 1;
    }
    char body[512], raw[1024];
    snprintf(body, sizeof body, "{\"AddressSpace\":\"LocalDefault\",\"Pool\":\"%s\","
             "\"SubPool\":\"\",\"Options\":{},\"V6\":false}\n", pool);
    int len = request(raw, sizeof raw, "RequestPool", body);
    if (call(fd, raw, len, "\"PoolID\"")) {
        fprintf(stderr, "fill: RequestPool %s failed\n", pool);
        return 1;
    }
    snprintf(body, sizeof body, "{\"PoolID\":\"LocalDefault/%s\",\"Address\":\"\","
             "\"Options\":null}\n", pool);
    len = request(raw, sizeof raw, "RequestAddress", body);
    double started = now_s();
    for (long i = 0; i < count; i++) {
        if (call(fd, raw, len, "\"Address\":\"")) {
            fprintf(stderr, "fill: RequestAddress %ld of %ld failed\n", i + 1, count);
            return 1;
        }
    }
    printf("%.0f\n", (double)count / (now_s() - started));
    return 0;
}
