/*
 * plugins/output/common/jsonl.h - format a batch as JSON lines, shared by
 * the stdout and file outputs (header-only: each plugin is its own .so and
 * must not depend on another plugin's symbols).
 */
#ifndef STRATA_PLUGINS_JSONL_H
#define STRATA_PLUGINS_JSONL_H

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include <strata/strata.h>

typedef struct jsonl_buf {
    char *buf;
    size_t len, cap;
} jsonl_buf;

/* Render every event of b, one JSON object and '\n' each, into jb (reused
 * across calls). 0 or -1 on allocation failure. */
static inline int jsonl_format(const strata_host_api *h, const strata_batch *b, jsonl_buf *jb)
{
    jb->len = 0;
    uint32_t n = h->batch_count(b);
    for (uint32_t i = 0; i < n; i++) {
        for (;;) {
            size_t room = jb->cap - jb->len;
            size_t need =
                h->batch_event_json(b, i, jb->buf ? jb->buf + jb->len : NULL, jb->buf ? room : 0);
            if (jb->buf && need + 2 <= room) {
                jb->len += need;
                jb->buf[jb->len++] = '\n';
                break;
            }
            size_t cap = jb->cap ? jb->cap * 2 : 65536;
            while (cap < jb->len + need + 2)
                cap *= 2;
            char *nb = realloc(jb->buf, cap);
            if (!nb)
                return -1;
            jb->buf = nb;
            jb->cap = cap;
        }
    }
    return 0;
}

static inline void jsonl_free(jsonl_buf *jb)
{
    free(jb->buf);
    jb->buf = NULL;
    jb->len = jb->cap = 0;
}

#endif /* STRATA_PLUGINS_JSONL_H */
