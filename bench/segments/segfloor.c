/*
 * bench/segments/segfloor.c - how small a segment's index could be at
 * best: lower bounds that no encoding of the same information can beat,
 * next to what the segment stores, so that a size target can be checked
 * against arithmetic before anyone spends a week on it.
 *
 *   segfloor --segment FILE
 *
 * Prints one JSON line (bench/segments/run adds it to its results).
 *
 * The bounds, for a segment of n rows:
 *  - Postings. A term's rows are df of the n rows. Kept apart from the rows
 *    themselves (so that a lookup does not read them) and coded on its own,
 *    a list costs at least log2 C(n, df) bits on average when its rows are
 *    a uniform choice among the C(n, df) subsets: true when events are drawn
 *    independently of their position, as gen_corpus's are, not for bursty
 *    real logs (which can go below it). Lists equal to an earlier one are
 *    counted once, whatever a format would pay to refer to them. Row order
 *    is the segment's (ingest time). Lists coded jointly (a word's rows as
 *    the union of its templates' rows) are outside this bound.
 *  - Filters. A filter that answers "maybe" for an absent key with
 *    probability e needs at least log2(1/e) bits per key (Carter et al.,
 *    "Exact and approximate membership testers", 1978). e is that of the
 *    format's own blooms (segment/format.h), keys are the segment's terms
 *    for the segment bloom and each block's distinct terms for the block
 *    blooms. A term in d of the B blocks needs no more than the exact set
 *    of its blocks, log2 C(B, d) bits, which is less for a term in many
 *    (what format 13's common terms store): the block bound takes the
 *    smaller of the two per term.
 * Terms a column holds (format 6 and later: hex ids, service, host,
 * single-token meta values) keep no list of their own (their rows are the
 * column's), so they are left out of the postings bound and counted apart.
 * So are terms stored as whole row templates: their rows are
 * those of the rows' templates, whose column (each row's template) costs
 * at least its entropy, sum over templates of rows x log2(n / rows) bits.
 * The term dictionary's strings get no bound here: it is what they are.
 *
 * Per field namespace (the term up to its first ':'): terms, terms seen
 * once, inline lists (df <= SEG_INLINE_POSTINGS), rows in all lists and
 * the bytes of the terms.
 */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

#include "build.h"
#include "format.h"
#include "segment.h"

/* Namespaces reported one by one; the rest are summed as "other". Real
 * segments have a few dozen (msg, service, host, level, meta keys). */
#define FLOOR_MAX_NS 64
/* Longest namespace name kept (meta keys are short). */
#define FLOOR_NS_NAME 48

typedef struct ns_stat {
    char name[FLOOR_NS_NAME];
    uint64_t terms, once, inline_lists, rows, text_bytes;
} ns_stat;

typedef struct floor_acc {
    double n;             /* rows of the segment */
    uint32_t block_rows;  /* rows per block */
    double blocks;        /* row blocks of the segment */
    double block_bits;    /* per term the smaller of its blooms' bound and its exact set */
    double block_e;       /* the block filters' false positive rate */
    double per_term_bits; /* log2 C(n, df) summed over every term */
    double distinct_bits; /* the same over distinct row lists */
    double distinct_inline_bits;
    uint64_t distinct_lists, block_keys, column_terms, template_terms;
    uint64_t *seen; /* open-addressing set of list hashes (0 = empty) */
    size_t seen_mask;
    ns_stat ns[FLOOR_MAX_NS + 1]; /* the last one is "other" */
    unsigned nns;
} floor_acc;

/* log2 of the binomial coefficient C(n, k). */
static double log2_choose(double n, double k)
{
    return (lgamma(n + 1) - lgamma(k + 1) - lgamma(n - k + 1)) / log(2.0);
}

/* False positive rate of a bloom filter with b bits per key and k hashes. */
/* The false positive rates of the segment's filters (segment, block):
 * the fuse filters' 2^-w. The bounds are for the rates the segment
 * delivers. */
static void filter_rates(double *seg_e, double *blk_e)
{
    *seg_e = ldexp(1.0, -(int)SEG_FILTER_WIDTH);
    *blk_e = ldexp(1.0, -(int)SEG_BLOCK_FILTER_WIDTH);
}

/* 1 when the list with hash h was seen before; else remember it. A 64-bit
 * hash of the rows stands for the list: two different lists share one with
 * probability ~2^-64 per pair, far below what moves a bound. */
static int seen_before(floor_acc *a, uint64_t h)
{
    h |= 1; /* 0 marks an empty slot */
    size_t i = (size_t)h & a->seen_mask;
    while (a->seen[i]) {
        if (a->seen[i] == h)
            return 1;
        i = (i + 1) & a->seen_mask;
    }
    a->seen[i] = h;
    return 0;
}

/* The namespace entry of term t (created on first sight, "other" when full). */
static ns_stat *ns_of(floor_acc *a, const char *t, size_t len)
{
    const char *colon = memchr(t, ':', len);
    size_t k = colon ? (size_t)(colon - t) : len;
    if (k >= FLOOR_NS_NAME)
        k = FLOOR_NS_NAME - 1;
    for (unsigned i = 0; i < a->nns; i++)
        if (strlen(a->ns[i].name) == k && !memcmp(a->ns[i].name, t, k))
            return &a->ns[i];
    if (a->nns == FLOOR_MAX_NS) {
        ns_stat *o = &a->ns[FLOOR_MAX_NS];
        snprintf(o->name, sizeof o->name, "other");
        return o;
    }
    ns_stat *s = &a->ns[a->nns++];
    memcpy(s->name, t, k);
    s->name[k] = 0;
    return s;
}

/* Account one term and its rows (ascending, df of them); in_column: a
 * column holds it, from_templates: its rows are whole templates (neither
 * has a list of its own). */
static void take(floor_acc *a, const char *t, size_t len, const uint32_t *rows, uint32_t df,
                 int in_column, int from_templates)
{
    int apart = in_column || from_templates;
    double bits = apart ? 0 : log2_choose(a->n, df);
    a->column_terms += in_column != 0;
    a->template_terms += from_templates != 0;
    a->per_term_bits += bits;
    if (!apart && !seen_before(a, XXH3_64bits(rows, (size_t)df * sizeof *rows))) {
        a->distinct_lists++;
        a->distinct_bits += bits;
        if (df <= SEG_INLINE_POSTINGS)
            a->distinct_inline_bits += bits;
    }
    uint32_t last = UINT32_MAX, d = 0; /* distinct blocks: the block bloom's keys */
    for (uint32_t i = 0; i < df; i++) {
        uint32_t b = rows[i] / a->block_rows;
        if (b != last)
            d++;
        last = b;
    }
    a->block_keys += d;
    double as_keys = d * log2(1.0 / a->block_e), as_set = log2_choose(a->blocks, d);
    a->block_bits += as_set < as_keys ? as_set : as_keys;
    ns_stat *s = ns_of(a, t, len);
    s->terms++;
    s->once += df == 1;
    s->inline_lists += df <= SEG_INLINE_POSTINGS;
    s->rows += df;
    s->text_bytes += len;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

/* The entropy in bits of the rows' templates (seg_template_key of each
 * message), summed over the rows; 0 when the segment stores none; -1 when
 * a row cannot be read. */
static double template_bits(seg_reader *r)
{
    const seg_info *in = seg_get_info(r);
    if (!in->templates)
        return 0;
    uint64_t *key = malloc(in->events * sizeof *key);
    strbuf mask = {0};
    if (!key)
        return -1;
    for (uint64_t i = 0; i < in->events; i++) {
        strata_event ev;
        if (seg_row_parts(r, (uint32_t)i, &ev, SEG_PART_MSG) < 0) {
            free(key);
            sb_free(&mask);
            return -1;
        }
        key[i] = seg_template_key(ev.msg.ptr, ev.msg.len, &mask);
    }
    sb_free(&mask);
    qsort(key, in->events, sizeof *key, cmp_u64);
    double bits = 0, n = (double)in->events;
    for (uint64_t i = 0, j; i < in->events; i = j) {
        for (j = i; j < in->events && key[j] == key[i]; j++)
            ;
        bits += (double)(j - i) * log2(n / (double)(j - i));
    }
    free(key);
    return bits;
}

static void print_json(const char *path, const seg_info *in, const floor_acc *a, double tbits)
{
    const seg_parts *p = &in->parts;
    double seg_e, blk_e;
    filter_rates(&seg_e, &blk_e);
    double seg_bloom = (double)in->terms * log2(1.0 / seg_e) / 8;
    double blk_bloom = a->block_bits / 8;
    printf("{\"segment\": \"%s\", \"events\": %llu, \"blocks\": %u, \"terms\": %llu, ", path,
           (unsigned long long)in->events, in->blocks, (unsigned long long)in->terms);
    printf("\"stored\": {\"columns\": %llu, \"rows\": %llu, \"terms\": %llu, \"postings\": %llu, "
           "\"filters\": %llu, \"total\": %llu}, ",
           (unsigned long long)p->columns, (unsigned long long)p->rows,
           (unsigned long long)p->terms, (unsigned long long)p->postings,
           (unsigned long long)p->filters, (unsigned long long)p->total);
    printf("\"bounds\": {\"postings_per_term\": %.0f, \"postings_distinct\": %.0f, "
           "\"postings_distinct_inline\": %.0f, \"distinct_lists\": %llu, "
           "\"segment_bloom\": %.0f, \"segment_bloom_fpr\": %.5f, \"block_blooms\": %.0f, "
           "\"block_bloom_keys\": %llu, \"block_bloom_fpr\": %.5f, \"column_terms\": %llu, "
           "\"template_terms\": %llu, \"templates\": %u, \"template_column\": %.0f}, ",
           a->per_term_bits / 8, a->distinct_bits / 8, a->distinct_inline_bits / 8,
           (unsigned long long)a->distinct_lists, seg_bloom, seg_e, blk_bloom,
           (unsigned long long)a->block_keys, blk_e, (unsigned long long)a->column_terms,
           (unsigned long long)a->template_terms, in->templates, tbits / 8);
    printf("\"namespaces\": [");
    for (unsigned i = 0, k = 0; i <= FLOOR_MAX_NS; i++) {
        const ns_stat *s = &a->ns[i];
        if (!s->terms)
            continue;
        printf("%s{\"name\": \"%s\", \"terms\": %llu, \"once\": %llu, \"inline\": %llu, "
               "\"rows\": %llu, \"text_bytes\": %llu}",
               k++ ? ", " : "", s->name, (unsigned long long)s->terms, (unsigned long long)s->once,
               (unsigned long long)s->inline_lists, (unsigned long long)s->rows,
               (unsigned long long)s->text_bytes);
    }
    printf("]}\n");
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--segment") && i + 1 < argc)
            path = argv[++i];
        else {
            fprintf(stderr, "usage: segfloor --segment FILE\n");
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "usage: segfloor --segment FILE\n");
        return 2;
    }
    char err[256];
    seg_dicts *dicts = seg_dicts_new(); /* the rows' messages need the segment's dictionary */
    if (dicts)
        seg_dicts_load_near(dicts, path);
    seg_reader *r = dicts ? seg_open(path, dicts, err, sizeof err) : NULL;
    if (!r) {
        fprintf(stderr, "segfloor: %s\n", dicts ? err : "out of memory");
        seg_dicts_free(dicts);
        return 1;
    }
    const seg_info *in = seg_get_info(r);
    floor_acc a = {.n = (double)in->events,
                   .block_rows = in->block_events ? in->block_events : 1,
                   .blocks = in->blocks};
    double seg_e;
    filter_rates(&seg_e, &a.block_e);
    size_t slots = 1024;
    while (slots < 2 * in->terms)
        slots *= 2;
    a.seen = calloc(slots, sizeof *a.seen);
    a.seen_mask = slots - 1;
    uint32_t *rows = malloc((in->events ? in->events : 1) * sizeof *rows);
    seg_tcur *c = seg_tcur_new(r);
    int rc = 1;
    if (!a.seen || !rows || !c) {
        fprintf(stderr, "segfloor: out of memory\n");
        goto done;
    }
    const char *t;
    size_t len;
    uint32_t df;
    int got;
    while ((got = seg_tcur_next(c, &t, &len, &df)) == 1) {
        if (df > in->events || seg_tcur_rows(c, rows) < 0) {
            got = -1;
            break;
        }
        int tpl = seg_term_from_templates(r, t, len);
        if (tpl < 0) {
            got = -1;
            break;
        }
        take(&a, t, len, rows, df, seg_term_in_column(r, t, len), tpl);
    }
    double tbits = got < 0 ? 0 : template_bits(r);
    if (got < 0 || tbits < 0) {
        fprintf(stderr, "segfloor: %s: %s\n", path, seg_error(r));
        goto done;
    }
    print_json(path, in, &a, tbits);
    rc = 0;
done:
    seg_tcur_free(c);
    free(rows);
    free(a.seen);
    seg_close(r);
    seg_dicts_free(dicts);
    return rc;
}
