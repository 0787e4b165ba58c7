/*
 * plugins/input/stdin - one event per line read from standard input.
 *
 * Lines longer than max_line are cut there (the rest of the line is
 * dropped and counted). At end of input the last partial line is sent and
 * the input goes quiet. Backpressure stops reading; the pipe then fills and
 * the writer blocks, which is exactly what a shell pipeline expects.
 * Thread: the loop thread (an fd watcher).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <strata/strata.h>

/* Read size per wake-up. */
#define STDIN_READ_CHUNK 65536

static const strata_config_key stdin_keys[] = {
    {"service", STRATA_CFG_STRING, "stdin", 0, "service field of every event."},
    {"host", STRATA_CFG_STRING, "localhost", 0, "host field of every event."},
    {"tenant", STRATA_CFG_STRING, "default", 0, "tenant field of every event."},
    {"level", STRATA_CFG_STRING, "INFO", 0, "level of every event."},
    {"max_line", STRATA_CFG_SIZE, "1MiB", 0, "Longest line kept; longer lines are cut."},
    {"batch_size", STRATA_CFG_INT, "1000", 0, "Most events per emitted batch."},
};

typedef struct in_stdin {
    strata_instance *inst;
    const strata_host_api *h;
    int fd;
    strata_io *io;
    char *buf;
    size_t len, cap, max_line;
    int64_t batch_size;
    int level, eof, skipping;
    char service[256], host[256], tenant[256];
    strata_batch *batch;
    strata_metric *truncated;
} in_stdin;

/* The plugin's init: line and batch limits, and the service, host, level and tenant given to
 * every line. */
static int stdin_init(strata_instance *inst, const strata_host_api *h, const strata_config *cfg,
                      void **state)
{
    in_stdin *s = calloc(1, sizeof *s);
    if (!s)
        return STRATA_ENOMEM;
    s->inst = inst;
    s->h = h;
    s->fd = STDIN_FILENO;
    s->max_line = (size_t)h->cfg_int(cfg, "max_line");
    s->batch_size = h->cfg_int(cfg, "batch_size");
    s->level = strata_level_parse(h->cfg_str(cfg, "level"), strlen(h->cfg_str(cfg, "level")));
    snprintf(s->service, sizeof s->service, "%s", h->cfg_str(cfg, "service"));
    snprintf(s->host, sizeof s->host, "%s", h->cfg_str(cfg, "host"));
    snprintf(s->tenant, sizeof s->tenant, "%s", h->cfg_str(cfg, "tenant"));
    if (s->level < 0 || s->max_line < 16 || s->max_line > (64u << 20) || s->batch_size < 1) {
        h->set_error(inst, "level must be TRACE..FATAL, max_line 16B..64MiB, batch_size >= 1");
        free(s);
        return STRATA_EINVAL;
    }
    s->cap = s->max_line + STDIN_READ_CHUNK;
    s->buf = malloc(s->cap);
    if (!s->buf) {
        free(s);
        return STRATA_ENOMEM;
    }
    s->truncated = h->metric_new(inst, STRATA_METRIC_COUNTER, "strata_stdin_lines_truncated_total",
                                 "Lines longer than max_line that were cut.", NULL, NULL, 0);
    *state = s;
    return STRATA_OK;
}

/* Send the current batch; 0 sent (or nothing to send), -1 backpressure. */
static int send_batch(in_stdin *s)
{
    if (!s->batch || s->h->batch_count(s->batch) == 0)
        return 0;
    int rc = s->h->emit(s->inst, s->batch, NULL, NULL);
    if (rc == STRATA_EAGAIN) {
        s->h->io_stop(s->io);
        s->io = NULL;
        return -1;
    }
    if (rc != STRATA_OK)
        s->h->batch_free(s->batch);
    s->batch = NULL;
    return 0;
}

/* Add one line (without its newline or a trailing CR) as an event; a full batch is emitted. */
static int add_line(in_stdin *s, const char *p, size_t n)
{
    if (n && p[n - 1] == '\r')
        n--;
    if (!s->batch && !(s->batch = s->h->batch_new(s->inst, NULL)))
        return -1;
    strata_event ev;
    strata_event_init(&ev);
    ev.ingest_ts_ns = ev.event_ts_ns = s->h->now_ns();
    ev.level = (uint8_t)s->level;
    ev.tenant = strata_cstr(s->tenant);
    ev.service = strata_cstr(s->service);
    ev.host = strata_cstr(s->host);
    ev.msg.ptr = p;
    ev.msg.len = (uint32_t)n;
    if (s->h->batch_append(s->batch, &ev) != STRATA_OK)
        return -1;
    if ((int64_t)s->h->batch_count(s->batch) >= s->batch_size)
        return send_batch(s);
    return 0;
}

static void on_readable(int fd, int revents, void *arg);

/* Watch stdin for reading unless it is watched already or at its end. */
static void watch(in_stdin *s)
{
    if (!s->io && !s->eof)
        s->io = s->h->io_watch(s->inst, s->fd, STRATA_IO_READ, on_readable, s);
}

/* Split buffered bytes into lines; keep a trailing partial line. */
static int drain_lines(in_stdin *s)
{
    size_t start = 0;
    for (;;) {
        char *nl = memchr(s->buf + start, '\n', s->len - start);
        if (!nl)
            break;
        size_t n = (size_t)(nl - (s->buf + start));
        if (s->skipping) {
            s->skipping = 0; /* end of an over-long line we already cut */
        } else if (add_line(s, s->buf + start, n) != 0) {
            start = (size_t)(nl - s->buf) + 1;
            memmove(s->buf, s->buf + start, s->len - start);
            s->len -= start;
            return -1;
        }
        start = (size_t)(nl - s->buf) + 1;
    }
    memmove(s->buf, s->buf + start, s->len - start);
    s->len -= start;
    if (s->len >= s->max_line) { /* a line longer than max_line: cut it */
        if (!s->skipping) {
            add_line(s, s->buf, s->max_line);
            s->h->metric_add(s->truncated, NULL, 1);
        }
        s->skipping = 1;
        s->len = 0;
    }
    return 0;
}

/* stdin is readable: read, split into lines, emit batches; pause while the pipeline is full. */
static void on_readable(int fd, int revents, void *arg)
{
    (void)revents;
    in_stdin *s = arg;
    ssize_t n = read(fd, s->buf + s->len, s->cap - s->len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        s->eof = 1;
        s->h->io_stop(s->io);
        s->io = NULL;
        if (s->len && !s->skipping)
            add_line(s, s->buf, s->len);
        s->len = 0;
        send_batch(s);
        s->h->log(s->inst, STRATA_LOG_INFO, "end of input");
        return;
    }
    s->len += (size_t)n;
    if (drain_lines(s) != 0)
        return;
    send_batch(s); /* do not sit on a partial batch while input is slow */
}

/* The plugin's start: make stdin non-blocking and watch it. */
static int stdin_start(void *state)
{
    in_stdin *s = state;
    int fl = fcntl(s->fd, F_GETFL);
    if (fl >= 0)
        fcntl(s->fd, F_SETFL, fl | O_NONBLOCK);
    watch(s);
    return s->io || s->eof ? STRATA_OK : STRATA_ERR;
}

/* The plugin's resume: emit the refused batch and the lines buffered, then watch stdin again. */
static void stdin_resume(void *state)
{
    in_stdin *s = state;
    if (send_batch(s) != 0)
        return;
    if (drain_lines(s) != 0)
        return;
    if (s->eof)
        send_batch(s);
    watch(s);
}

/* The plugin's stop: stop watching stdin. */
static void stdin_stop(void *state)
{
    in_stdin *s = state;
    s->h->io_stop(s->io);
    s->io = NULL;
}

/* The plugin's destroy: free the state and any batch not emitted. */
static void stdin_destroy(void *state)
{
    in_stdin *s = state;
    if (s->batch)
        s->h->batch_free(s->batch);
    free(s->buf);
    free(s);
}

static const strata_plugin stdin_plugin = {
    STRATA_PLUGIN_HEADER,
    .name = "stdin",
    .kind = STRATA_KIND_INPUT,
    .version = "1.0.0",
    .description = "Reads standard input, one event per line.",
    .config = stdin_keys,
    .config_count = sizeof stdin_keys / sizeof stdin_keys[0],
    .init = stdin_init,
    .start = stdin_start,
    .stop = stdin_stop,
    .destroy = stdin_destroy,
    .resume = stdin_resume,
};

STRATA_PLUGIN_DEFINE(stdin_plugin)
