#define _GNU_SOURCE
/* dockerd's exact RequestAddress bytes over keep-alive connections.
 * Usage: client SOCKET_PATH COUNT CONNECTIONS
 * One connection: prints "p50_us p99_us" of COUNT sequential exchanges.
 * N connections (N processes, COUNT each): prints "exchanges_per_second". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char BODY[] = "{\"PoolID\":\"LocalDefault/10.0.0.0/8\",\"Address\":\"\","
                           "\"Options\":null}\n";
static char request[1024];
static int request_len;

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static int dial(const char *path) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strncpy(addr.sun_path, path, sizeof addr.sun_path - 1);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr)) {
        perror("client connect");
        exit(1);
    }
    return fd;
}

static void exchange(int fd) {
    static char buf[65536];
    if (write(fd, request, (size_t)request_len) != request_len) exit(1);
    size_t have = 0;
    for (;;) {
        ssize_t n = read(fd, buf + have, sizeof buf - have);
        if (n <= 0) {
            fprintf(stderr, "client: connection closed\n");
            exit(1);
        }
        have += (size_t)n;
        char *end = memmem(buf, have, "\r\n\r\n", 4);
        if (!end) continue;
        size_t head = (size_t)(end - buf) + 4;
        long length = 0;
        for (size_t i = 0; i + 17 < head; i++)
            if (strncasecmp(buf + i, "\r\ncontent-length:", 17) == 0) length = atol(buf + i + 17);
        if (have >= head + (size_t)length) return;
    }
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 4) return 2;
    long count = atol(argv[2]);
    int conns = atoi(argv[3]);
    request_len = snprintf(request, sizeof request,
        "POST /IpamDriver.RequestAddress HTTP/1.1\r\nHost: \r\nUser-Agent: Go-http-client/1.1\r\n"
        "Content-Length: %zu\r\nAccept: application/vnd.docker.plugins.v1.2+json\r\n"
        "Accept-Encoding: gzip\r\n\r\n%s", strlen(BODY), BODY);
    if (conns == 1) {
        int fd = dial(argv[1]);
        for (int i = 0; i < 200; i++) exchange(fd);  /* warm-up */
        double *lat = malloc(sizeof(double) * (size_t)count);
        for (long i = 0; i < count; i++) {
            double t = now_us();
            exchange(fd);
            lat[i] = now_us() - t;
        }
        qsort(lat, (size_t)count, sizeof(double), compare);
        printf("%.1f %.1f\n", lat[count / 2], lat[(long)(count * 0.99)]);
        return 0;
    }
    double started = now_us();
    for (int c = 0; c < conns; c++) {
        if (fork() == 0) {
            int fd = dial(argv[1]);
            for (long i = 0; i < count; i++) exchange(fd);
            _exit(0);
        }
    }
    int status, failed = 0;
    while (wait(&status) > 0) failed |= !WIFEXITED(status) || WEXITSTATUS(status);
    if (failed) return 1;
    printf("%.0f\n", conns * count / ((now_us() - started) / 1e6));
    return 0;
}
