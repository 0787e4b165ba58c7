/*
 * plugins/output/file - appends events as JSON lines to a file.
 *
 * Each flushed batch is one write() of whole lines, so a reader never sees
 * half a batch interleaved with another. With fsync: true the batch is
 * fdatasync'ed before the flush reports success (and so before the input's
 * acknowledgement). A write error such as a full disk is retried with
 * backoff rather than dropped at once. Reconfigure reopens a changed path.
 * A SIGKILL can still stop the kernel part way through that write(); the
 * batch was not acknowledged, so it is delivered again, and on open a last
 * line without its newline (that torn batch's start) is cut first.
 * Thread: the output's worker thread.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <strata/strata.h>

#include "../common/jsonl.h"
#include "fsutil.h"

static const strata_config_key file_keys[] = {
    {"path", STRATA_CFG_STRING, NULL, 1, "File to append to; created with mode 0640 if missing."},
    {"fsync", STRATA_CFG_BOOL, "false", 0, "fdatasync after every batch before acknowledging it."},
    {"format", STRATA_CFG_STRING, "json", 0, "Only json (one JSON object per line) for now."},
};

typedef struct out_file {
    strata_instance *inst;
    const strata_host_api *h;
    char *path;
    int fd;
    int fsync;
    jsonl_buf jb;
} out_file;

/* Bytes read per step while looking back for the last newline. */
#define FILE_TAIL_STEP 4096

/* Cut a last line that has no newline (a write torn by a crash) from the
 * open file fd; logs what it cut. */
static void cut_torn_tail(out_file *f, int fd, const char *path)
{
    struct stat st;
    char buf[FILE_TAIL_STEP];
    if (fstat(fd, &st) != 0 || st.st_size == 0 ||
        (pread(fd, buf, 1, st.st_size - 1) == 1 && buf[0] == '\n'))
        return;
    off_t end = st.st_size, keep = 0;
    while (end > 0) {
        size_t n = end < (off_t)sizeof buf ? (size_t)end : sizeof buf;
        if (pread(fd, buf, n, end - (off_t)n) != (ssize_t)n)
            return; /* unreadable: leave the file as it is */
        char *nl = memrchr(buf, '\n', n);
        if (nl) {
            keep = end - (off_t)n + (nl - buf) + 1;
            break;
        }
        end -= (off_t)n;
    }
    if (ftruncate(fd, keep) == 0)
        f->h->log(f->inst, STRATA_LOG_WARN,
                  "%s ended in %lld bytes of a line cut short (a write stopped by a crash); "
                  "removed them, the batch is delivered again",
                  path, (long long)(st.st_size - keep));
    else
        f->h->log(f->inst, STRATA_LOG_ERROR,
                  "%s ends in %lld bytes of a line cut short (a write stopped by a crash) "
                  "that cannot be removed: %s; the next line follows them",
                  path, (long long)(st.st_size - keep), strerror(errno));
}

/* Open (creating) path for appending, cut a torn last line, and make it the output file in place of
 * the old one; a STRATA_* error when it cannot be opened. */
static int open_path(out_file *f, const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd < 0) {
        f->h->set_error(f->inst, "cannot open %s: %s", path, strerror(errno));
        return STRATA_ERR;
    }
    char *p = strdup(path);
    if (!p) {
        close(fd);
        return STRATA_ENOMEM;
    }
    cut_torn_tail(f, fd, path);
    if (f->fd >= 0)
        close(f->fd);
    free(f->path);
    f->fd = fd;
    f->path = p;
    return STRATA_OK;
}

/* The plugin's init: the format (json), fsync, and the file opened for appending. */
static int file_init(strata_instance *inst, const strata_host_api *h, const strata_config *cfg,
                     void **state)
{
    if (strcmp(h->cfg_str(cfg, "format"), "json") != 0) {
        h->set_error(inst, "format '%s' is not supported (only json)", h->cfg_str(cfg, "format"));
        return STRATA_EINVAL;
    }
    out_file *f = calloc(1, sizeof *f);
    if (!f)
        return STRATA_ENOMEM;
    f->inst = inst;
    f->h = h;
    f->fd = -1;
    f->fsync = h->cfg_bool(cfg, "fsync");
    int rc = open_path(f, h->cfg_str(cfg, "path"));
    if (rc != STRATA_OK) {
        free(f);
        return rc;
    }
    *state = f;
    return STRATA_OK;
}

/* The plugin's reconfigure: a new path is opened before the old file is closed. */
static int file_reconfigure(void *state, const strata_config *cfg)
{
    out_file *f = state;
    const char *path = f->h->cfg_str(cfg, "path");
    if (strcmp(f->h->cfg_str(cfg, "format"), "json") != 0)
        return STRATA_EINVAL;
    if (strcmp(path, f->path) != 0) {
        int rc = open_path(f, path);
        if (rc != STRATA_OK)
            return rc;
    }
    f->fsync = f->h->cfg_bool(cfg, "fsync");
    return STRATA_OK;
}

/* The plugin's flush: append the batch as JSON lines (fdatasync with fsync: true); a failed write
 * is cut back so a retry does not duplicate it. */
static int file_flush(void *state, const strata_batch *b)
{
    out_file *f = state;
    if (jsonl_format(f->h, b, &f->jb) != 0)
        return STRATA_RETRY;
    off_t before = lseek(f->fd, 0, SEEK_END);
    if (fs_write_all(f->fd, f->jb.buf, f->jb.len) != 0) {
        int e = errno;
        /* never leave half a batch behind: a retry would duplicate it */
        if (before >= 0 && ftruncate(f->fd, before) != 0)
            f->h->log(f->inst, STRATA_LOG_ERROR, "cannot trim a partial write of %s", f->path);
        f->h->log(f->inst, STRATA_LOG_WARN, "write to %s failed: %s", f->path, strerror(e));
        return STRATA_RETRY;
    }
    if (f->fsync && fdatasync(f->fd) != 0) {
        f->h->log(f->inst, STRATA_LOG_WARN, "fdatasync %s failed: %s", f->path, strerror(errno));
        return STRATA_RETRY;
    }
    return STRATA_OK;
}

/* The plugin's destroy: close the file. */
static void file_destroy(void *state)
{
    out_file *f = state;
    if (f->fd >= 0)
        close(f->fd);
    jsonl_free(&f->jb);
    free(f->path);
    free(f);
}

static const strata_plugin file_plugin = {
    STRATA_PLUGIN_HEADER,
    .name = "file",
    .kind = STRATA_KIND_OUTPUT,
    .version = "1.0.0",
    .description = "Appends events to a file as JSON lines.",
    .config = file_keys,
    .config_count = sizeof file_keys / sizeof file_keys[0],
    .init = file_init,
    .reconfigure = file_reconfigure,
    .destroy = file_destroy,
    .flush = file_flush,
};

STRATA_PLUGIN_DEFINE(file_plugin)
