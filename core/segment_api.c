/*
 * core/segment_api.c - the host's segment reading table for plugins
 * (sdk/include/strata/segment.h, service "strata.segment.v1"): a thin,
 * stable layer over the segment library (segment/segment.h), which may
 * change while this table only grows.
 *
 * Ownership: open allocates a handle (a reader and the dictionaries it
 * needs) that close frees; everything returned points into the handle.
 */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#include "segment.h"
#include "segment_api.h"

struct strata_segment {
    seg_reader *r;
    seg_dicts *d; /* the reader borrows them: freed after it */
};

/* strata.segment.v1 open: a read handle of a segment file, or an error saying what is wrong with
 * it. */
static int sa_open(const char *path, strata_segment **out, char *err, size_t errlen)
{
    *out = NULL;
    strata_segment *s = calloc(1, sizeof *s);
    if (!s || !(s->d = seg_dicts_new())) {
        free(s);
        if (err && errlen)
            snprintf(err, errlen, "out of memory");
        return STRATA_ENOMEM;
    }
    seg_dicts_load_near(s->d, path);
    s->r = seg_open(path, s->d, err, errlen);
    if (!s->r) {
        seg_dicts_free(s->d);
        free(s);
        return STRATA_EINVAL;
    }
    *out = s;
    return STRATA_OK;
}

/* strata.segment.v1 close (NULL is fine). */
static void sa_close(strata_segment *s)
{
    if (!s)
        return;
    seg_close(s->r);
    seg_dicts_free(s->d);
    free(s);
}

/* strata.segment.v1 info: the segment's counts and time range. */
static int sa_info(const strata_segment *s, strata_segment_info *out)
{
    if (!out || out->struct_size < offsetof(strata_segment_info, tenant) + sizeof out->tenant)
        return STRATA_EINVAL;
    const seg_info *in = seg_get_info(s->r);
    out->format_version = in->version;
    out->events = in->events;
    out->min_ingest_ns = in->min_ingest_ns;
    out->max_ingest_ns = in->max_ingest_ns;
    out->min_event_ns = in->min_event_ns;
    out->max_event_ns = in->max_event_ns;
    out->terms = in->terms;
    out->bytes = in->parts.total;
    out->tenant = strata_cstr(in->tenant);
    return STRATA_OK;
}

/* strata.segment.v1 row: decode row i into an event that points into the handle. */
static int sa_row(strata_segment *s, uint32_t row, strata_event *out)
{
    if (row >= seg_get_info(s->r)->events)
        return STRATA_ERANGE;
    return seg_row(s->r, row, out) == 0 ? STRATA_OK : STRATA_EINVAL;
}

/* strata.segment.v1 postings: each row holding term, ascending, until fn says stop. */
static int sa_postings(strata_segment *s, const char *term, size_t len, strata_segment_row_fn fn,
                       void *ud)
{
    roaring_bitmap_t *bm = seg_postings(s->r, term, len);
    if (!bm)
        return STRATA_EINVAL;
    roaring_uint32_iterator_t *it = roaring_create_iterator(bm);
    int rc = it ? STRATA_OK : STRATA_ENOMEM;
    for (; it && it->has_value; roaring_advance_uint32_iterator(it))
        if (fn(ud, it->current_value))
            break;
    if (it)
        roaring_free_uint32_iterator(it);
    roaring_bitmap_free(bm);
    return rc;
}

/* strata.segment.v1 terms: each term under prefix with its document frequency, sorted. */
static int sa_terms(strata_segment *s, const char *prefix, size_t len, strata_segment_term_fn fn,
                    void *ud)
{
    return seg_terms(s->r, prefix, len, fn, ud) == 0 ? STRATA_OK : STRATA_EINVAL;
}

/* strata.segment.v1 error: the handle's last error. */
static const char *sa_error(const strata_segment *s)
{
    return seg_error(s->r);
}

static const strata_segment_api table = {
    .struct_size = sizeof(strata_segment_api),
    .open = sa_open,
    .close = sa_close,
    .info = sa_info,
    .row = sa_row,
    .postings = sa_postings,
    .terms = sa_terms,
    .error = sa_error,
};

const strata_segment_api *segment_api_table(void)
{
    return &table;
}
