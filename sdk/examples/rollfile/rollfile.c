/*
 * rollfile - an example third-party durable output: events as JSON lines
 * in files that roll over at max_file_bytes, made durable in groups and
 * confirmed to the host with output_commit (docs/PLUGINS.md, "Durable
 * outputs"). It shows the whole contract of a deferred output:
 *
 *  - flush writes the batch and returns STRATA_PENDING: taken, not yet
 *    durable. The WAL keeps the batch until the plugin commits past it.
 *  - Every commit_interval (checked at each flush), at every roll-over and
 *    in stop, the file is fdatasync'ed, the position (next WAL sequence,
 *    file, byte offset) is stored with state_put, and then output_commit
 *    lets the WAL go up to there.
 *  - At start the stored position is the truth: the current file is cut
 *    back to the committed offset, files begun after the commit are
 *    removed, and batches the host replays below the committed sequence
 *    are skipped, so a crash at any moment neither loses nor duplicates a
 *    line.
 *  - In a pipeline without a WAL (batch_seq is 0) there is nothing to
 *    hold back: each flush is fdatasync'ed and returns STRATA_OK.
 *
 * Files are DIR/events-SEQ.jsonl, SEQ the zero-padded WAL sequence of
 * their first batch, so that names sort in the order of the events.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <strata/strata.h>

/* Room for a file name: "events-" + 20 digits + ".jsonl". */
#define ROLL_NAME_MAX 40
/* Longest directory path, so that dir + '/' + a file name fits PATH_MAX. */
#define ROLL_DIR_MAX 4000

static const strata_config_key roll_keys[] = {
    {"dir", STRATA_CFG_STRING, NULL, 1, "Directory of the files (created if missing)."},
    {"max_file_bytes", STRATA_CFG_SIZE, "64MiB", 0, "A file rolls over once it is this large."},
    {"commit_interval", STRATA_CFG_DURATION, "1s", 0,
     "At most this long between fdatasync + output_commit while batches arrive."},
};

static const strata_config_rule roll_rules[] = {
    {.key = "max_file_bytes", .min = "4KiB", .max = "1GiB"},
    {.key = "commit_interval", .min = "10ms", .max = "1h"},
};

/* The committed position, as stored with state_put under "committed". */
typedef struct roll_pos {
    uint64_t next;   /* every WAL sequence below this is in the files, fsynced */
    uint64_t offset; /* bytes of `file` that hold them */
    char file[ROLL_NAME_MAX];
} roll_pos;

typedef struct roll {
    strata_instance *inst;
    const strata_host_api *h;
    char dir[ROLL_DIR_MAX];
    int64_t max_file_bytes, commit_ms;
    roll_pos done; /* the last commit */
    char file[ROLL_NAME_MAX];
    int fd;        /* the current file, or -1 */
    uint64_t size; /* its bytes */
    uint64_t next; /* WAL sequence after the last batch written */
    int64_t commit_at_ms;
    char *line;
    size_t cap;
    strata_metric *m_commits;
} roll;

/* Monotonic milliseconds, for the commit interval. */
static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* dir + '/' + name into out (room for PATH_MAX). */
static void path_of(const roll *r, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/%s", r->dir, name);
}

/* fsync the directory, so a file created or removed in it stays so. */
static int sync_dir(const roll *r)
{
    int fd = open(r->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* The plugin's init: the directory, the limits and the metric (files open in start). */
static int roll_init(strata_instance *inst, const strata_host_api *h, const strata_config *cfg,
                     void **state)
{
    const char *dir = h->cfg_str(cfg, "dir");
    if (strlen(dir) >= ROLL_DIR_MAX) {
        h->set_error(inst, "dir is longer than %d bytes", ROLL_DIR_MAX - 1);
        return STRATA_EINVAL;
    }
    if (mkdir(dir, 0750) != 0 && errno != EEXIST) {
        h->set_error(inst, "cannot create %s: %s", dir, strerror(errno));
        return STRATA_ERR;
    }
    roll *r = calloc(1, sizeof *r);
    if (!r)
        return STRATA_ENOMEM;
    r->inst = inst;
    r->h = h;
    r->fd = -1;
    snprintf(r->dir, sizeof r->dir, "%s", dir);
    r->max_file_bytes = h->cfg_int(cfg, "max_file_bytes");
    r->commit_ms = h->cfg_int(cfg, "commit_interval");
    r->m_commits = h->metric_new(inst, STRATA_METRIC_COUNTER, "strata_rollfile_commits_total",
                                 "Groups of batches made durable and committed.", NULL, NULL, 0);
    *state = r;
    return STRATA_OK;
}

/* Open (creating) file `name` for appending at byte `at`, cutting anything
 * after it. STRATA_OK, or an error with the reason set. */
static int open_at(roll *r, const char *name, uint64_t at)
{
    char path[4096];
    path_of(r, name, path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0 || ftruncate(fd, (off_t)at) != 0 || lseek(fd, (off_t)at, SEEK_SET) < 0) {
        r->h->set_error(r->inst, "cannot open %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return STRATA_ERR;
    }
    if (r->fd >= 0)
        close(r->fd);
    r->fd = fd;
    r->size = at;
    snprintf(r->file, sizeof r->file, "%s", name);
    return STRATA_OK;
}

/* Remove the files that sort after the committed one: begun after the last
 * commit, so everything in them is replayed by the WAL. */
static void remove_uncommitted(roll *r)
{
    DIR *d = opendir(r->dir);
    if (!d)
        return;
    struct dirent *e;
    int removed = 0;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, "events-", 7) != 0 || strcmp(e->d_name, r->done.file) <= 0)
            continue;
        char path[4096];
        path_of(r, e->d_name, path, sizeof path);
        if (unlink(path) == 0)
            removed = 1;
    }
    closedir(d);
    if (removed)
        sync_dir(r);
}

/* The plugin's start: take up at the committed position. */
static int roll_start(void *state)
{
    roll *r = state;
    size_t len = 0;
    if (r->h->state_get(r->inst, "committed", &r->done, sizeof r->done, &len) != STRATA_OK ||
        len != sizeof r->done || !memchr(r->done.file, 0, sizeof r->done.file))
        memset(&r->done, 0, sizeof r->done); /* first start: nothing committed */
    if (!r->done.file[0])
        snprintf(r->done.file, sizeof r->done.file, "events-%020" PRIu64 ".jsonl", (uint64_t)0);
    remove_uncommitted(r);
    r->next = r->done.next;
    r->commit_at_ms = mono_ms() + r->commit_ms;
    int rc = open_at(r, r->done.file, r->done.offset);
    if (rc == STRATA_OK && r->done.next)
        r->h->output_commit(r->inst, r->done.next); /* the WAL may drop what we hold */
    return rc;
}

/* Make everything written durable and tell the host: fdatasync, store the
 * position, then output_commit. -1 when the file or the state cannot be
 * made durable (nothing is committed; the WAL keeps the batches). */
static int commit(roll *r)
{
    r->commit_at_ms = mono_ms() + r->commit_ms;
    if (r->fd < 0 || r->next <= r->done.next)
        return 0;
    if (fdatasync(r->fd) != 0) {
        r->h->log(r->inst, STRATA_LOG_WARN, "fdatasync %s/%s: %s", r->dir, r->file,
                  strerror(errno));
        return -1;
    }
    roll_pos p = {.next = r->next, .offset = r->size};
    snprintf(p.file, sizeof p.file, "%s", r->file);
    if (r->h->state_put(r->inst, "committed", &p, sizeof p) != STRATA_OK) {
        r->h->log(r->inst, STRATA_LOG_WARN, "cannot store the committed position");
        return -1;
    }
    r->done = p;
    r->h->output_commit(r->inst, p.next);
    r->h->metric_add(r->m_commits, NULL, 1);
    return 0;
}

/* Roll over: commit the full file, then start the next one, named after
 * the sequence of its first batch. */
static int roll_over(roll *r, uint64_t first_seq)
{
    if (commit(r) != 0)
        return -1;
    char name[ROLL_NAME_MAX];
    snprintf(name, sizeof name, "events-%020" PRIu64 ".jsonl", first_seq);
    if (open_at(r, name, 0) != STRATA_OK)
        return -1;
    return sync_dir(r);
}

/* Append the batch's events as JSON lines to the current file. */
static int write_batch(roll *r, const strata_batch *b)
{
    uint32_t n = r->h->batch_count(b);
    for (uint32_t i = 0; i < n; i++) {
        size_t need = r->h->batch_event_json(b, i, r->line, r->cap);
        if (need + 2 > r->cap) {
            char *l = realloc(r->line, need + 2);
            if (!l)
                return -1;
            r->line = l;
            r->cap = need + 2;
            r->h->batch_event_json(b, i, r->line, r->cap);
        }
        r->line[need] = '\n';
        size_t off = 0;
        while (off < need + 1) {
            ssize_t w = write(r->fd, r->line + off, need + 1 - off);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return -1;
            off += (size_t)w;
        }
        r->size += need + 1;
    }
    return 0;
}

/* The plugin's flush: write the batch; durable later (STRATA_PENDING). */
static int roll_flush(void *state, const strata_batch *b)
{
    roll *r = state;
    uint64_t seq = r->h->batch_seq(b);
    if (seq && seq < r->done.next)
        return STRATA_PENDING; /* a replay of what the files hold already */
    if (r->fd < 0)
        return STRATA_RETRY;
    if (seq && r->size >= (uint64_t)r->max_file_bytes && roll_over(r, seq) != 0)
        return STRATA_RETRY;
    off_t before = (off_t)r->size;
    if (write_batch(r, b) != 0) {
        /* never leave half a batch: a retry writes it whole again */
        r->h->log(r->inst, STRATA_LOG_WARN, "write %s/%s: %s", r->dir, r->file, strerror(errno));
        if (ftruncate(r->fd, before) == 0 && lseek(r->fd, before, SEEK_SET) >= 0)
            r->size = (uint64_t)before;
        return STRATA_RETRY;
    }
    if (!seq) /* no WAL behind us: durable before returning, or not at all */
        return fdatasync(r->fd) == 0 ? STRATA_OK : STRATA_RETRY;
    r->next = seq + 1;
    if (mono_ms() >= r->commit_at_ms)
        commit(r); /* a failure is retried at the next flush; the WAL holds on */
    return STRATA_PENDING;
}

/* The plugin's stop: commit what is written. */
static void roll_stop(void *state)
{
    roll *r = state;
    commit(r);
}

/* The plugin's destroy: close the file and free the state. */
static void roll_destroy(void *state)
{
    roll *r = state;
    if (r->fd >= 0)
        close(r->fd);
    free(r->line);
    free(r);
}

static const strata_plugin roll_plugin = {
    STRATA_PLUGIN_HEADER,
    .name = "rollfile",
    .kind = STRATA_KIND_OUTPUT,
    .version = "1.0.0",
    .description = "JSON lines in rolling files, made durable in groups and committed to the WAL.",
    .config = roll_keys,
    .config_count = sizeof roll_keys / sizeof roll_keys[0],
    .config_rules = roll_rules,
    .config_rule_count = sizeof roll_rules / sizeof roll_rules[0],
    .init = roll_init,
    .start = roll_start,
    .stop = roll_stop,
    .destroy = roll_destroy,
    .flush = roll_flush,
};

STRATA_PLUGIN_DEFINE(roll_plugin)
