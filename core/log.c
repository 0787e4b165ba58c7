/*
 * core/log.c - Strata's own log lines: to stderr or a file, rate-limited per
 * call site, never into a pipeline.
 *
 * Thread: any. One mutex guards the output stream and the site table.
 *
 * Rate limiting: each distinct format string is a "site". A site may print
 * LOG_SITE_RATE_PER_S lines per second; further lines in the same second are
 * counted, and the next line that gets through says how many were
 * suppressed. This is the brief's "log once, then count" defence: an output
 * that fails 10,000 times a second produces 10 lines, not 10,000.
 */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core_limits.h"

struct log_site {
    const char *fmt; /* identity of the site (pointer compare) */
    time_t second;
    unsigned printed;
    unsigned suppressed;
};

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static FILE *log_out; /* guarded by log_lock; NULL means stderr */
static int log_level = LOG_INFO;
static struct log_site log_sites[LOG_SITE_SLOTS];
static unsigned long long log_suppressed_total;

static const char *level_names[] = {"error", "warn", "info", "debug"};

/* Set the most verbose level printed. */
void log_set_level(int level)
{
    if (level < LOG_ERROR)
        level = LOG_ERROR;
    if (level > LOG_DEBUG)
        level = LOG_DEBUG;
    log_level = level;
}

/* Parse "error|warn|info|debug"; returns -1 when unknown. */
int log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    if (strcmp(s, "warning") == 0)
        return LOG_WARN;
    return -1;
}

/* Send log lines to `path` (appended), or to stderr when path is NULL/"".
 * Returns 0 or -errno. */
int log_set_file(const char *path)
{
    FILE *f = NULL;
    if (path && *path) {
        f = fopen(path, "ae");
        if (!f)
            return -errno;
        setvbuf(f, NULL, _IOLBF, 0);
    }
    pthread_mutex_lock(&log_lock);
    if (log_out)
        fclose(log_out);
    log_out = f;
    pthread_mutex_unlock(&log_lock);
    return 0;
}

/* Close the log file, if any. */
void log_close(void)
{
    (void)log_set_file(NULL);
}

unsigned long long log_suppressed(void)
{
    pthread_mutex_lock(&log_lock);
    unsigned long long n = log_suppressed_total;
    pthread_mutex_unlock(&log_lock);
    return n;
}

/* Decide under log_lock whether this site may print now. *was_suppressed
 * receives how many lines of the site were held back since it last printed. */
static int site_admit(const char *fmt, time_t now, unsigned *was_suppressed)
{
    uintptr_t h = (uintptr_t)fmt;
    h ^= h >> 17;
    h *= 0x9e3779b97f4a7c15ull;
    struct log_site *s = &log_sites[(h >> 20) % LOG_SITE_SLOTS];
    *was_suppressed = 0;
    if (s->fmt != fmt) { /* new site or a collision: take the slot over */
        s->fmt = fmt;
        s->second = now;
        s->printed = 0;
        s->suppressed = 0;
    }
    if (s->second != now) {
        s->second = now;
        s->printed = 0;
    }
    if (s->printed >= LOG_SITE_RATE_PER_S) {
        s->suppressed++;
        log_suppressed_total++;
        return 0;
    }
    s->printed++;
    *was_suppressed = s->suppressed;
    s->suppressed = 0;
    return 1;
}

/* Print one line: "2026-11-26T12:00:00.123Z level [who] message". `who` may
 * be NULL for the core itself. */
void log_vwrite(int level, const char *who, const char *fmt, va_list ap)
{
    if (level > log_level)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);

    pthread_mutex_lock(&log_lock);
    unsigned dropped = 0;
    if (site_admit(fmt, ts.tv_sec, &dropped)) {
        FILE *out = log_out ? log_out : stderr;
        fprintf(out, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-5s [%s] %s", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000,
                level_names[level], who ? who : "core", msg);
        if (dropped)
            fprintf(out, " (%u similar lines suppressed)", dropped);
        fputc('\n', out);
        fflush(out);
    }
    pthread_mutex_unlock(&log_lock);
}

void log_write(int level, const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, who, fmt, ap);
    va_end(ap);
}
