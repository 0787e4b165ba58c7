/*
 * segment/dicts.c - trained zstd dictionaries: training from samples, and the
 * id -> dictionary set readers decompress with. Dictionaries are stored by
 * the indexer as DATA_DIR/dicts/<tenant>/<id>.zdict; a segment records the id
 * of the one its blocks were compressed with.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ZDICT_STATIC_LINKING_ONLY
#define ZSTD_STATIC_LINKING_ONLY
#include <zdict.h>
#include <zstd.h>

#include "fsutil.h"
#include "segment.h"
#include "segment_int.h"

/* A dictionary file larger than this is not one of ours (we train 256 KiB). */
#define SEG_MAX_DICT_BYTES (1u << 20)
/* Training bytes per dictionary byte, and the smallest dictionary worth
 * training (zstd's own floor is 256 bytes; below 1 KiB the gain is noise). */
#define SEG_DICT_TRAIN_RATIO 100u
#define SEG_DICT_MIN_BYTES 1024u
/* Dictionaries one set holds: a bound on what a directory can make us load. */
#define SEG_MAX_DICTS 4096u

typedef struct seg_dict {
    uint32_t id;
    ZSTD_DDict *ddict;
} seg_dict;

struct seg_dicts {
    seg_dict *d;
    size_t n, cap;
};

/* An empty set of zstd dictionaries for readers, owned by the caller; NULL on OOM. */
seg_dicts *seg_dicts_new(void)
{
    return calloc(1, sizeof(seg_dicts));
}

uint32_t seg_dict_id(const void *dict, size_t len)
{
    return (uint32_t)ZDICT_getDictID(dict, len);
}

int seg_dicts_add(seg_dicts *s, const void *dict, size_t len)
{
    uint32_t id = seg_dict_id(dict, len);
    if (!id || s->n >= SEG_MAX_DICTS)
        return -1;
    for (size_t i = 0; i < s->n; i++)
        if (s->d[i].id == id)
            return 0;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        seg_dict *nd = realloc(s->d, cap * sizeof *nd);
        if (!nd)
            return -1;
        s->d = nd;
        s->cap = cap;
    }
    ZSTD_DDict *dd = ZSTD_createDDict(dict, len);
    if (!dd)
        return -1;
    s->d[s->n].id = id;
    s->d[s->n].ddict = dd;
    s->n++;
    return 0;
}

/* The decompression dictionary with this id, or NULL. */
const ZSTD_DDict *seg_dicts_find(const seg_dicts *s, uint32_t id);
/* The dictionary with this id, or NULL. */
const ZSTD_DDict *seg_dicts_find(const seg_dicts *s, uint32_t id)
{
    for (size_t i = 0; s && i < s->n; i++)
        if (s->d[i].id == id)
            return s->d[i].ddict;
    return NULL;
}

int seg_dicts_has(const seg_dicts *s, uint32_t id)
{
    return seg_dicts_find(s, id) != NULL;
}

/* Read a whole small file; NULL on error or when larger than max. */
static void *read_small(const char *path, size_t max, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return NULL;
    struct stat st;
    void *buf = NULL;
    if (fstat(fd, &st) == 0 && st.st_size > 0 && (size_t)st.st_size <= max &&
        (buf = malloc((size_t)st.st_size))) {
        if (read(fd, buf, (size_t)st.st_size) != st.st_size) {
            free(buf);
            buf = NULL;
        } else {
            *len = (size_t)st.st_size;
        }
    }
    close(fd);
    return buf;
}

typedef struct load_ctx {
    seg_dicts *d;
    int n;
} load_ctx;

/* Directory walk callback: add one .zdict file (at most SEG_MAX_DICT_BYTES) to the set. */
static void load_one(void *ud, const char *path, const char *rel, const char *name)
{
    (void)rel;
    load_ctx *c = ud;
    if (!seg_has_suffix(name, ".zdict"))
        return;
    size_t len = 0;
    void *buf = read_small(path, SEG_MAX_DICT_BYTES, &len);
    if (buf && seg_dicts_add(c->d, buf, len) == 0)
        c->n++;
    free(buf);
}

int seg_dicts_load_dir(seg_dicts *s, const char *dir)
{
    load_ctx c = {s, 0};
    seg_walk(dir, 0, load_one, &c);
    return c.n;
}

int seg_dicts_load_tree(seg_dicts *s, const char *dir)
{
    load_ctx c = {s, 0};
    seg_walk(dir, 1, load_one, &c);
    return c.n;
}

void seg_dicts_free(seg_dicts *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        ZSTD_freeDDict(s->d[i].ddict);
    free(s->d);
    free(s);
}

size_t seg_dict_train(const void *samples, const size_t *sizes, unsigned n, void *out, size_t cap)
{
    if (n < 8)
        return 0;
    /* zstd's guidance: train on ~100x the dictionary's size. A dictionary
     * larger than that learns nothing more and costs its bytes. */
    size_t total = 0;
    for (unsigned i = 0; i < n; i++)
        total += sizes[i];
    size_t want = total / SEG_DICT_TRAIN_RATIO;
    if (want < SEG_DICT_MIN_BYTES)
        want = SEG_DICT_MIN_BYTES;
    if (want < cap)
        cap = want;
    size_t r = ZDICT_trainFromBuffer(out, cap, samples, sizes, n);
    return ZDICT_isError(r) ? 0 : r;
}

int seg_fsync_dir(const char *path, char *err, size_t errlen)
{
    if (fs_fsync_parent(path) == 0)
        return 0;
    snprintf(err, errlen, "fsync of the directory of %s: %s", path, strerror(errno));
    return -1;
}
