/*
 * bench/ingest/loadgen.c - load generator for POST /v1/ingest.
 *
 *   loadgen HOST:PORT [--connections N] [--seconds S] [--events-per-batch E]
 *           [--encoding zstd|identity] [--json FILE]
 *
 * Each connection is a thread with a keep-alive socket that sends a batch,
 * waits for the 202 (which the server sends only once the batch is durable),
 * and sends the next. Bodies are the brief's shape, pre-built and
 * pre-compressed so the generator measures the server, not itself. Reports
 * acknowledged events/s, MB/s (uncompressed JSON), and p50/p99/max
 * acknowledgement latency as a Markdown table and, with --json, JSON.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

/* Distinct pre-built bodies each connection cycles through. */
#define LG_BODIES 8
/* Latency samples kept per connection (one per batch). */
#define LG_MAX_SAMPLES (1 << 20)

typedef struct body {
    char *data;
    size_t len, raw_len;
} body;

typedef struct conn_stats {
    int id;
    uint64_t batches, events, raw_bytes, errors, status_other;
    double *lat; /* seconds */
    size_t nlat;
} conn_stats;

static const char *host, *port;
static int events_per_batch = 1000, use_zstd = 1;
static double seconds = 10;
static body bodies[LG_BODIES];
static volatile int stop_flag;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void make_bodies(void)
{
    static const char *svc[] = {"payment-service", "checkout", "auth", "search"};
    static const char *lvl[] = {"INFO", "INFO", "WARN", "ERROR", "DEBUG"};
    unsigned r = 7;
    for (int b = 0; b < LG_BODIES; b++) {
        size_t cap = (size_t)events_per_batch * 400 + 512, n = 0;
        char *s = malloc(cap);
        if (!s)
            exit(1);
        n += (size_t)snprintf(s + n, cap - n,
                              "{\"source\":{\"service\":\"%s\",\"host\":\"ip-10-0-3-%d\","
                              "\"region\":\"us-east-1\",\"environment\":\"production\"},\"logs\":[",
                              svc[b % 4], b);
        for (int i = 0; i < events_per_batch; i++) {
            r = r * 1103515245u + 12345u;
            n += (size_t)snprintf(
                s + n, cap - n,
                "%s{\"ts\":\"2026-11-26T12:00:%02u.%03uZ\",\"level\":\"%s\",\"msg\":\"GET "
                "/api/v1/users/%u 200 %ums user-agent=curl/8.0\",\"meta\":{\"trace_id\":"
                "\"%08x-%04x\",\"user_id\":\"u_%u\",\"latency_ms\":%u}}",
                i ? "," : "", (r >> 8) % 60, (r >> 4) % 1000, lvl[(r >> 3) % 5], r % 100000,
                (r >> 5) % 900, r, (r >> 16) & 0xffff, (r >> 7) % 100000, (r >> 9) % 900);
        }
        n += (size_t)snprintf(s + n, cap - n, "]}");
        bodies[b].raw_len = n;
        if (use_zstd) {
            size_t zc = ZSTD_compressBound(n);
            char *z = malloc(zc);
            size_t zn = ZSTD_compress(z, zc, s, n, 3);
            if (ZSTD_isError(zn))
                exit(1);
            free(s);
            bodies[b].data = z;
            bodies[b].len = zn;
        } else {
            bodies[b].data = s;
            bodies[b].len = n;
        }
    }
}

static int connect_to(void)
{
    struct addrinfo hints = {0}, *ai;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &ai) != 0)
        return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

static int send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) {
            if (w < 0 && errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Read one response; returns the status or -1. */
static int read_response(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + got, cap - got - 1, 0);
        if (n <= 0)
            return -1;
        got += (size_t)n;
        buf[got] = 0;
        char *end = strstr(buf, "\r\n\r\n");
        if (!end)
            continue;
        char *cl = strcasestr(buf, "Content-Length:");
        size_t body_len = cl ? strtoul(cl + 15, NULL, 10) : 0;
        size_t need = (size_t)(end + 4 - buf) + body_len;
        while (got < need) {
            n = recv(fd, buf + got, cap - got - 1, 0);
            if (n <= 0)
                return -1;
            got += (size_t)n;
        }
        return atoi(buf + 9);
    }
}

static void *conn_main(void *arg)
{
    conn_stats *st = arg;
    int fd = connect_to();
    char head[512], resp[65536];
    for (int i = st->id; !stop_flag; i++) {
        if (fd < 0 && (fd = connect_to()) < 0) {
            st->errors++;
            usleep(100000);
            continue;
        }
        body *b = &bodies[i % LG_BODIES];
        int hn = snprintf(head, sizeof head,
                          "POST /v1/ingest HTTP/1.1\r\nHost: %s\r\nContent-Type: "
                          "application/json\r\n%sContent-Length: %zu\r\n\r\n",
                          host, use_zstd ? "Content-Encoding: zstd\r\n" : "", b->len);
        double t0 = now_s();
        if (send_all(fd, head, (size_t)hn) || send_all(fd, b->data, b->len)) {
            close(fd);
            fd = -1;
            st->errors++;
            continue;
        }
        int status = read_response(fd, resp, sizeof resp);
        double dt = now_s() - t0;
        if (status == 202) {
            st->batches++;
            st->events += (uint64_t)events_per_batch;
            st->raw_bytes += b->raw_len;
            if (st->nlat < LG_MAX_SAMPLES)
                st->lat[st->nlat++] = dt;
        } else if (status < 0) {
            close(fd);
            fd = -1;
            st->errors++;
        } else {
            st->status_other++;
            if (status == 429 || status == 503)
                usleep(10000);
        }
    }
    if (fd >= 0)
        close(fd);
    return NULL;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int conns = 8;
    const char *json_out = NULL;
    if (argc < 2) {
        fprintf(stderr, "usage: loadgen HOST:PORT [--connections N] [--seconds S] "
                        "[--events-per-batch E] [--encoding zstd|identity] [--json FILE]\n");
        return 2;
    }
    static char hp[256];
    snprintf(hp, sizeof hp, "%s", argv[1]);
    char *colon = strrchr(hp, ':');
    if (!colon)
        return 2;
    *colon = 0;
    host = hp;
    port = colon + 1;
    for (int i = 2; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--connections"))
            conns = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--seconds"))
            seconds = atof(argv[i + 1]);
        else if (!strcmp(argv[i], "--events-per-batch"))
            events_per_batch = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--encoding"))
            use_zstd = strcmp(argv[i + 1], "identity") != 0;
        else if (!strcmp(argv[i], "--json"))
            json_out = argv[i + 1];
    }
    if (conns < 1 || conns > 1024 || events_per_batch < 1)
        return 2;
    make_bodies();
    conn_stats *st = calloc((size_t)conns, sizeof *st);
    pthread_t *t = calloc((size_t)conns, sizeof *t);
    for (int i = 0; i < conns; i++) {
        st[i].id = i;
        st[i].lat = malloc(LG_MAX_SAMPLES * sizeof(double));
        pthread_create(&t[i], NULL, conn_main, &st[i]);
    }
    double t0 = now_s();
    while (now_s() - t0 < seconds)
        usleep(50000);
    stop_flag = 1;
    for (int i = 0; i < conns; i++)
        pthread_join(t[i], NULL);
    double dt = now_s() - t0;
    uint64_t events = 0, bytes = 0, errors = 0, other = 0;
    size_t nl = 0;
    for (int i = 0; i < conns; i++) {
        events += st[i].events;
        bytes += st[i].raw_bytes;
        errors += st[i].errors;
        other += st[i].status_other;
        nl += st[i].nlat;
    }
    double *all = malloc((nl ? nl : 1) * sizeof(double));
    size_t k = 0;
    for (int i = 0; i < conns; i++)
        for (size_t j = 0; j < st[i].nlat; j++)
            all[k++] = st[i].lat[j];
    qsort(all, nl, sizeof *all, cmp_d);
    double p50 = nl ? all[nl / 2] : 0, p99 = nl ? all[(nl * 99) / 100] : 0,
           mx = nl ? all[nl - 1] : 0;
    printf("| connections | events/batch | encoding | acked events/s | MB/s (JSON) | p50 ack | "
           "p99 ack | max ack | non-202 | errors |\n|---|---|---|---|---|---|---|---|---|---|\n");
    printf("| %d | %d | %s | %.0f | %.1f | %.1f ms | %.1f ms | %.1f ms | %llu | %llu |\n", conns,
           events_per_batch, use_zstd ? "zstd" : "identity", (double)events / dt,
           (double)bytes / dt / 1e6, p50 * 1e3, p99 * 1e3, mx * 1e3, (unsigned long long)other,
           (unsigned long long)errors);
    if (json_out) {
        FILE *f = fopen(json_out, "w");
        if (f) {
            fprintf(f,
                    "{\"benchmark\":\"ingest\",\"connections\":%d,\"events_per_batch\":%d,"
                    "\"encoding\":\"%s\",\"seconds\":%.2f,\"acked_events_per_s\":%.0f,"
                    "\"mb_per_s\":%.2f,\"p50_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f,"
                    "\"non_202\":%llu,\"errors\":%llu}\n",
                    conns, events_per_batch, use_zstd ? "zstd" : "identity", dt,
                    (double)events / dt, (double)bytes / dt / 1e6, p50 * 1e3, p99 * 1e3, mx * 1e3,
                    (unsigned long long)other, (unsigned long long)errors);
            fclose(f);
        }
    }
    return events ? 0 : 1;
}
