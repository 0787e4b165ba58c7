/*
 * core/log.h - the core's own logging (see log.c).
 */
#ifndef STRATA_CORE_LOG_H
#define STRATA_CORE_LOG_H

#include <stdarg.h>

enum { LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* Lines above level are not written. */
void log_set_level(int level);
/* "error", "warn", "info", "debug" to a level; -1 for anything else. */
int log_level_parse(const char *s);
/* Append to path instead of stderr (0, or -1 when it cannot be opened);
 * log_close closes it and goes back to stderr. */
int log_set_file(const char *path);
void log_close(void);
/* Lines dropped by the per-call-site rate limit since start. */
unsigned long long log_suppressed(void);
/* One line "TIME LEVEL [who] message", rate-limited per call site (any thread). */
void log_vwrite(int level, const char *who, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
void log_write(int level, const char *who, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_error(...) log_write(LOG_ERROR, NULL, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, NULL, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, NULL, __VA_ARGS__)
#define log_debug(...) log_write(LOG_DEBUG, NULL, __VA_ARGS__)

#endif /* STRATA_CORE_LOG_H */
