/*
 * segment/build.h - the pieces of building a segment that the writer
 * (writer.c, from events in memory) and the streaming merge (merge.c, from
 * segments on disk) share, so that both produce the same bytes for the same
 * rows. Not part of the library's API.
 */
#ifndef STRATA_SEGMENT_BUILD_H
#define STRATA_SEGMENT_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include <zstd.h>

#include "codec.h"
#include "format.h"
#include "segment.h"
#include "strbuf.h"
#include "strtab.h"

/* ---- sorted strings ------------------------------------------------------- */

/* A string of a table, for sorting: its bytes and its id. */
typedef struct sref {
    const char *s;
    uint32_t len;
    uint32_t id;
} sref;

/* The strings of t sorted by bytes (shorter first on a common prefix);
 * returns the refs (the caller frees) and fills rank[id] = position when
 * rank is not NULL. NULL on OOM. */
sref *seg_sort_strtab(const strtab *t, uint32_t *rank);
/* A sorted string dictionary (SEC_SERVICE_DICT's layout): the count, then
 * the front-coded strings in one zstd frame at `level` (format.h). Out of
 * memory sets out->oom. */
void seg_put_dict(strbuf *out, const sref *s, size_t n, int level);

/* ---- filters and postings -------------------------------------------------- */

/* A binary fuse filter being built (fuse.c): parts added in
 * order, each from all its keys, then the filter appended whole. The
 * builder owns its scratch (about 36 bytes per key of the largest part)
 * and the bytes built so far; free with seg_fuse_free. */
typedef struct seg_fuse {
    unsigned w, arity, part_log;
    uint32_t parts_done;
    strbuf head, bits;       /* the parts' headers and slots so far */
    uint32_t *count, *alone; /* per slot: keys (<< 2 | XOR of their index), peel queue */
    uint64_t *xhash;         /* per slot: XOR of its keys' hashes */
    uint8_t *fp;             /* per slot: its fingerprint, before packing */
    uint64_t *rev;           /* per key: its hash, in peeling order */
    uint8_t *revi;           /* per key: which of its slots it was peeled from */
    size_t slot_cap, key_cap;
} seg_fuse;
/* Keys per part at most (seg_writer_opts.filter_part_keys by default):
 * a part of 2^21 keys needs about 76 MB to build, and parts of more than
 * 2^20 keys get the smallest array (1.075 n slots at arity 4). */
#define SEG_FUSE_PART_KEYS (1u << 21)
/* The most filter_part_keys may ask for: a part's slots (at most 1.125 a
 * key, with its segments' rounding) stay far below 2^32, which the build's
 * 32-bit slot numbers need. */
#define SEG_FUSE_MAX_PART_KEYS (1u << 28)
/* The key of the pair (a term of hash term_hash, block) in a block filter. */
uint64_t seg_fuse_pair_key(uint64_t term_hash, uint32_t block);
/* Keys per part for a writer's filter_part_keys: SEG_FUSE_PART_KEYS for 0,
 * at most SEG_FUSE_MAX_PART_KEYS. */
uint64_t seg_fuse_part_keys(uint32_t opt);
/* log2 of the parts a filter of n keys is split in, so that each holds at
 * most part_keys of them on average (format.h). */
unsigned seg_fuse_part_log(uint64_t n, uint64_t part_keys);
/* The part a key belongs to: its top part_log bits. */
uint32_t seg_fuse_part(uint64_t key, unsigned part_log);
/* Start a filter of 2^part_log parts of w-bit fingerprints. */
void seg_fuse_begin(seg_fuse *f, unsigned w, unsigned arity, unsigned part_log);
/* Add the next part from its n keys (reordered, equal keys dropped).
 * 0, or -1 on OOM or a part past 2^32 slots (2^21 keys take 2.3M). */
int seg_fuse_add_part(seg_fuse *f, uint64_t *keys, size_t n);
/* Append the whole filter to out: 0, or -1 on OOM or a part missing. */
int seg_fuse_finish(seg_fuse *f, strbuf *out);
/* The whole filter of n keys in memory (tmp: room for n more) appended to
 * out: 0, or -1 on OOM. The bytes depend only on the set of keys. */
int seg_fuse_put(seg_fuse *f, uint64_t *keys, uint64_t *tmp, size_t n, unsigned w, unsigned arity,
                 uint64_t part_keys, strbuf *out);
void seg_fuse_free(seg_fuse *f);

/* The common terms of the block filters (filters.c): each with
 * its set of blocks, built term by term. Owns its arrays; free with
 * seg_common_free. */
typedef struct seg_common {
    uint32_t blocks; /* row blocks of the segment */
    size_t bytes;    /* per set: ceil(blocks / 8) */
    uint64_t *hash;  /* per entry: the term's hash */
    uint8_t *bits;   /* per entry: its set, bytes each */
    size_t n, cap;
} seg_common;
/* Whether a term in in_blocks of the segment's blocks is common: its entry
 * and set cost fewer bits than its pairs in the fuse filter would
 * (format.h). */
int seg_common_is(uint64_t in_blocks, uint64_t blocks);
void seg_common_init(seg_common *c, uint32_t blocks);
/* A new entry for hash h with no block yet: its index, or -1 on OOM. */
int64_t seg_common_add(seg_common *c, uint64_t h);
/* Entry i's term is in block `block` (< blocks). */
void seg_common_mark(seg_common *c, size_t i, uint32_t block);
/* Append the table (filters.c's layout): entries by hash, equal sets
 * stored once. The bytes depend only on the (hash, set) pairs, not on the
 * order they were added in. 0, or -1 on OOM. */
int seg_common_put(const seg_common *c, strbuf *out);
void seg_common_free(seg_common *c);
/* Append the SEC_POSTINGS entry (tag byte, then delta varints or a portable
 * roaring bitmap, whichever is smaller) of rows[n], ascending, to out.
 * rbuf and rcap are scratch the caller frees. 0, or -1 on OOM. */
int seg_postings_encode(const uint32_t *rows, uint32_t n, strbuf *out, char **rbuf, size_t *rcap);

/* Postings entries already written, so that a term whose rows equal an
 * earlier term's refers to its entry. Open addressing by a
 * 64-bit hash (never 0); callers check candidates themselves (the writer
 * by rows, the merge by encoded bytes). */
typedef struct seg_pent {
    uint64_t h;
    uint64_t off, len;    /* the entry in SEC_POSTINGS */
    const uint32_t *rows; /* the writer's: its rows (they outlive the table) */
    uint32_t n;
} seg_pent;
typedef struct seg_ptab {
    seg_pent *slot;
    size_t cap, n; /* cap: a power of two */
} seg_ptab;
/* Remember an entry (copied); 0, or -1 on OOM. Free slot with free(). */
int seg_ptab_add(seg_ptab *t, const seg_pent *e);
/* The next entry with hash h: start with *i = SIZE_MAX; NULL after the last. */
const seg_pent *seg_ptab_next(const seg_ptab *t, uint64_t h, size_t *i);

/* ---- the host column (hostcol.c) ----------------------------------------------------------- */

/* Append SEC_HOST's body (format.h) for rows whose service and
 * host ranks are svc[i] and host[i] (nsvc services): by service or plain,
 * whichever is smaller. 0, or -1 on OOM. */
int seg_put_hosts(strbuf *out, const uint32_t *svc, const uint32_t *host, size_t n, uint32_t nsvc,
                  int level);
/* Read such a body at c into host[n], the rows' services being svc[n]
 * (checked below nsvc) and every host below nhost; tmp is n values of
 * scratch. NULL, or what is malformed. */
const char *seg_get_hosts(cursor *c, const uint32_t *svc, uint32_t nsvc, uint32_t nhost,
                          uint32_t *host, size_t n, int64_t *tmp);

/* ---- the term dictionary --------------------------------------------------------------- */

/* Front-coded term blocks grouped into zstd chunks (SEC_TERMS) and the index
 * over them (SEC_TERM_INDEX), built term by term in sorted order. Zero it,
 * set level, and free with seg_termw_free. */
typedef struct seg_termw {
    strbuf raw, chunks, blocks, firsts;
    /* the chunk being gathered (layout: format.h): its text and
     * numbers streams, per block where it starts in them, and the first
     * row of each inline list (u32 each, bit-packed when the chunk ends) */
    strbuf text, nums, heads, frows;
    size_t cuts[2]; /* where the laid-out chunk's numbers and first rows start */
    uint32_t nfirst, maxfirst;
    uint64_t nterms;
    char prev[SEG_MAX_TERM];
    size_t prev_len;
    int level;       /* zstd level of chunks and index */
    ZSTD_CCtx *cctx; /* one context for every chunk: a fresh one per chunk cost
                        a third of writing the dictionary */
} seg_termw;

/* The next term (len <= SEG_MAX_TERM, after the previous one) with df
 * rows. Every SEG_TERMS_PER_BLOCK terms a block starts, its postings at
 * post_base in SEC_POSTINGS, and a full chunk is first compressed onto out,
 * whose end is at offset out_at of SEC_TERMS. A list of at most
 * SEG_INLINE_POSTINGS rows is written inline from rows; a longer one needs
 * seg_termw_ref next. 0, or -1 with err. */
int seg_termw_add(seg_termw *t, const char *term, size_t len, const uint32_t *rows, uint32_t df,
                  uint64_t post_base, strbuf *out, uint64_t out_at, char *err, size_t errlen);
/* Where the term's postings entry is: an earlier entry with the same rows
 * (same), else a new one of len bytes at the end of SEC_POSTINGS. */
void seg_termw_ref(seg_termw *t, const seg_pent *same, uint64_t len);
/* Compress the last chunk onto out, ending SEC_TERMS; 0, or -1 with err. */
int seg_termw_finish(seg_termw *t, strbuf *out, uint64_t out_at, char *err, size_t errlen);
/* Append SEC_TERM_INDEX (one zstd frame) to out; 0, or -1 with err. */
int seg_termw_index(seg_termw *t, strbuf *out, char *err, size_t errlen);
void seg_termw_free(seg_termw *t);

/* ---- meta columns ------------------------------------------------------------ */

/* A key that may become a meta column, and how many rows have a value. */
typedef struct seg_mcand {
    uint32_t key; /* rank in SEC_META_KEYS */
    uint64_t rows;
} seg_mcand;
/* The keys that become meta columns by format.h's rules, out of count[k]
 * rows with a value for each of nkeys keys (k's rank: rank[k], or k when
 * rank is NULL) in a segment of `rows` rows: into out (room for nkeys),
 * the most frequent first; returns how many (at most SEG_MAX_META_COLUMNS). */
size_t seg_meta_col_pick(const uint64_t *count, const uint32_t *rank, uint32_t nkeys, uint64_t rows,
                         seg_mcand *out);

/* ---- columns that hold their terms (segment/colterms.c) ------------------------ */

/* Whether one key's values can make a HEX column, or a dictionary column
 * that holds its terms (format.h), decided kv by kv over the whole segment
 * the same way by the writer and the merge, so that both choose the same. */
typedef struct seg_colcheck {
    uint8_t ok;     /* still eligible for HEX */
    uint8_t single; /* every kv a string, at most one per row, the key fit for terms */
    uint8_t digits; /* the values' length (0: none seen yet) */
    uint64_t last;  /* the row of the last value seen + 1 (two in a row: neither) */
} seg_colcheck;
/* Whether a meta key's column may hold its terms: no ':' (so that no such
 * namespace is a prefix of another's) and short enough for its values to
 * be indexed. The writer, the merge and the reader apply this one rule. */
int seg_key_holds_terms(const char *key, size_t klen);
/* Bytes of one packed value of n hex digits. */
static inline size_t seg_hex_bytes(size_t n)
{
    return (n + 1) / 2;
}
/* The namespaces a segment's columns hold (format.h): service and host by
 * flags, meta keys with their HEX digits (0: a TERMS column). Keys point
 * at the builder's strings. */
typedef struct seg_colterms {
    uint16_t flags; /* SEG_FLAG_* */
    uint32_t n;
    strata_str key[SEG_MAX_META_COLUMNS];
    uint8_t digits[SEG_MAX_META_COLUMNS];
} seg_colterms;
/* Whether term t is one a column of ct holds rather than the term
 * dictionary (seg_column_value tells a term of a key "KEY:x" apart). */
int seg_colterms_has(const seg_colterms *ct, const char *t, size_t len);
/* Start the check for key (its bytes): not eligible unless
 * seg_key_holds_terms. */
void seg_colcheck_init(seg_colcheck *h, const char *key, size_t klen);
/* One kv of the key in row `row` (rows in ascending order). */
void seg_colcheck_see(seg_colcheck *h, uint64_t row, uint8_t type, const char *v, size_t len);

/* A value of n hex digits as a 128-bit number, high digits first, so that
 * comparing numbers compares strings of one length. */
typedef struct seg_hex128 {
    uint64_t hi, lo;
} seg_hex128;
seg_hex128 seg_hex_parse(const char *v, size_t n);
/* Compare two parsed values; <0, 0, >0. */
int seg_hex_cmp(seg_hex128 a, seg_hex128 b);
/* A row's value, for ordering a column's values (then rows) with qsort. */
typedef struct seg_hexrow {
    seg_hex128 v;
    uint32_t row;
} seg_hexrow;
void seg_hexrow_sort(seg_hexrow *a, size_t n);
/* Write v's n digits as (n + 1) / 2 bytes, two digits a byte, the first in
 * the high nibble (an odd count leaves the last low nibble 0). */
void seg_hex_pack(seg_hex128 v, size_t n, uint8_t *out);
/* The n digits of a packed value into out (n bytes, not terminated). */
void seg_hex_unpack(const uint8_t *p, size_t n, char *out);
/* A HEX column's sorted distinct values as an Elias-Fano sequence (format
 * 9, format.h): the low bits per value for n values of `digits` digits. */
unsigned seg_hex_ef_low_bits(uint64_t n, unsigned digits);
/* Append the sequence of v[n] (strictly ascending) to out: u8 low bits L,
 * `bytes` of the n x L low bits, `bytes` of the high bit vector. 0, or -1
 * on OOM. */
int seg_hex_ef_put(strbuf *out, const seg_hex128 *v, size_t n, unsigned digits);
/* Decode such a sequence of n values into out (n packed values, as
 * seg_hex_pack writes them); 0, or -1 when malformed (L not the one n
 * implies, lengths off, a value out of range, too many or few values). The
 * caller checks the values ascending. */
int seg_hex_ef_get(unsigned L, const uint8_t *low, size_t lowlen, const uint8_t *high,
                   size_t highlen, size_t n, unsigned digits, uint8_t *out);
/* Whether a meta value may be a value of a dictionary of terms (format.h):
 * it is one of its own tokens (lowercase, words joined by single
 * connectors or runs holding '_'), at most TOK_MAX_BYTES, without ':'. Its
 * other tokens are the words it joins, substrings of it. */
int seg_value_is_term(const char *v, size_t n);
/* Called with the strtab id of each token of a value, in token order. */
typedef void (*seg_held_fn)(void *ud, uint32_t id);
/* Intern the tokens of value v (n bytes) into t, calling fn (may be NULL)
 * with each one's id: the terms a dictionary of terms holds are its
 * values' tokens. 0, or -1 on OOM. */
struct strtab;
int seg_held_intern(struct strtab *t, const char *v, size_t n, seg_held_fn fn, void *ud);
/* How many distinct terms the n values of a dictionary of terms hold
 * (what its column header counts), or -1 on OOM. */
int64_t seg_held_count(const sref *vals, size_t n);
/* Whether the rest of a "meta.KEY:" term (after the namespace) can be a
 * value of KEY's column: `digits` hex digits for a HEX column, else (TERMS,
 * digits 0) any token without ':'. A term of another key "KEY:x" has the
 * same namespace prefix and a ':' (or another shape) in its rest. */
int seg_column_value(const char *rest, size_t n, unsigned digits);
/* Whether a service or host name is its own term: lowercase, at most a
 * token long (the empty name, which has no term, also qualifies). */
int seg_name_is_term(const char *v, size_t n);

/* ---- row templates (segment/templates.c, format versions 8, 10 and 11) ------- */

/* A message's template: its text with every maximal run of ASCII letters
 * and digits that holds a digit (a variable) replaced by one
 * SEG_TEMPLATE_VAR_BYTE, appended to mask when given, so that "Received
 * block blk_-1229765 of size 84859222" and the same line with other numbers
 * share it; and its variables, one ' ' between two, appended to vars when
 * given (format.h: what a row block stores of the message). */
void seg_template_split(const char *msg, size_t len, strbuf *mask, strbuf *vars);
/* The kind of a variable (format.h: SEG_VAR_*). */
unsigned seg_var_kind(const char *v, size_t n);
/* A message's variables as a row block stores them: each one's shape
 * appended to shapes, and its bytes (a 0x-hex one's without "0x") to text,
 * digits or hex by its kind, each of which may be NULL to skip. */
void seg_template_streams(const char *msg, size_t len, strbuf *shapes, strbuf *text, strbuf *digits,
                          strbuf *hex);
/* A message's template key: the hash of its masked text (seg_template_split
 * into scratch, which the caller frees), which rows of one template share. */
uint64_t seg_template_key(const char *msg, size_t len, strbuf *scratch);
/* Append what a row block most likely stores of a message (its variables
 * and a '\n', or the whole message): a sample to train dictionaries on. */
void seg_template_sample(const char *msg, size_t len, strbuf *out);
/* The templates of a segment being built: rows are added in segment order,
 * then ranked (most rows first, then key), written as SEC_TEMPLATES and
 * used to tell terms whose rows are whole templates. seg_tpl_init for
 * `rows` rows; free with seg_tpl_free. */
typedef struct seg_tpl {
    uint32_t *slot;  /* interning: open addressing, id + 1 (until ranked) */
    uint32_t nslot;  /* a power of two */
    uint64_t *key;   /* by id (the hash of the masked text); after seg_tpl_rank by rank */
    uint32_t *size;  /* rows of each, likewise */
    uint64_t *toff;  /* its text's offset in `text` (UINT64_MAX: none), likewise */
    uint32_t *tlen;  /* its text's length, likewise */
    uint64_t *soff;  /* its first row's variable shapes in `shapes`, likewise */
    uint32_t *slen;  /* their length, likewise */
    strbuf shapes;   /* the shapes of the texts' rows */
    uint32_t n, cap; /* templates */
    strbuf text;     /* the texts of the templates: each key's first row's */
    strbuf mask;     /* seg_tpl_add's scratch */
    uint32_t *row;   /* per row its id; after seg_tpl_rank its rank */
    uint8_t *vars;   /* per row: 1 when its message is stored as its variables */
    uint64_t rows, rowcap;
    uint32_t *cnt, *touched; /* seg_tpl_encode's scratch, by rank */
    int used;                /* a term refers to them: SEC_TEMPLATES stores them */
    int any_vars;            /* a row is stored as variables: likewise */
    int columns;             /* a dictionary column's ranks follow them: likewise */
} seg_tpl;
/* 0, or -1 on OOM. */
int seg_tpl_init(seg_tpl *t, uint64_t rows);
/* The next row's message; 0, or -1 on OOM or past the rows given. The
 * row's vars flag says whether its block stores only its variables: its
 * message has no SEG_TEMPLATE_VAR_BYTE, and its masked text is the text of
 * its key's first row, stored while the texts fit SEG_TEMPLATE_TEXT_MAX. */
int seg_tpl_add(seg_tpl *t, const char *msg, size_t len);
/* Number the templates by rank once every row is in; 0, or -1 on OOM. */
int seg_tpl_rank(seg_tpl *t);
/* Byte planes a rank below n takes (1 to 4). */
unsigned seg_tpl_planes(uint32_t n);
/* Append the body of SEC_TEMPLATES (format.h); 0, or -1 on OOM. */
int seg_tpl_put(const seg_tpl *t, strbuf *out, int level);
/* If rows[n] (ascending) are exactly the rows of some templates, at most
 * n / SEG_TEMPLATE_MIN_ROWS of them, append a SEG_POSTINGS_TEMPLATES entry
 * of those templates to out and return 1; else append nothing and return
 * 0; -1 on OOM. */
int seg_tpl_encode(seg_tpl *t, const uint32_t *rows, uint32_t n, strbuf *out, char **rbuf,
                   size_t *rcap);
void seg_tpl_free(seg_tpl *t);

/* A dictionary column's ranks predicted by the rows' templates
 * (format.h): the rows with a value whose rank is not the last rank of a
 * row of their template (the exceptions: each template's first, and the
 * changes). seg_tplpred_init for `templates` templates and `present` rows
 * with a value (0, or -1 on OOM); seg_tplpred_add each such row's template
 * and rank in row order (0, or -1 on OOM); free with seg_tplpred_free. Past
 * present / SEG_RANKS_EXCEPTION_SHARE exceptions it stops keeping them
 * (hopeless): the plain ranks will be smaller. */
typedef struct seg_tplpred {
    int64_t *last; /* per template its last rank, -1 before its first */
    uint32_t n;
    uint64_t seen, max;
    uint64_t *pos; /* the exceptions: their index among the rows with a value */
    int64_t *val;  /* and their ranks */
    uint64_t nexc, cap;
    int hopeless;
} seg_tplpred;
int seg_tplpred_init(seg_tplpred *p, uint32_t templates, uint64_t present);
int seg_tplpred_add(seg_tplpred *p, uint32_t tpl, int64_t v);
void seg_tplpred_free(seg_tplpred *p);
/* Append a dictionary column's ranks (format.h): the coding
 * byte, then the intcol of the plain ranks, or the exceptions of p when
 * given and smaller (then t->columns is set: SEC_TEMPLATES must store the
 * ranks), so that the writer and the merge choose alike. 0, or -1 on OOM. */
int seg_put_dict_ranks(strbuf *out, const strbuf *plain, const seg_tplpred *p, seg_tpl *t);

/* ---- rollup ----------------------------------------------------------------- */

typedef struct seg_rcell {
    int64_t minute;
    uint32_t svc;
    uint8_t level;
    uint64_t count;
} seg_rcell;

/* Counts per (event minute, service rank, level), gathered row by row. */
typedef struct seg_rollup_acc {
    seg_rcell *t;
    size_t cap, n;
} seg_rollup_acc;

/* Count one row; 0, or -1 on OOM. */
int seg_rollup_add(seg_rollup_acc *a, int64_t event_ns, uint32_t svc, uint8_t level);
/* Append the SEC_ROLLUP body. Afterwards only seg_rollup_free may be called. */
void seg_rollup_put(seg_rollup_acc *a, strbuf *out);
void seg_rollup_free(seg_rollup_acc *a);

/* ---- row blocks --------------------------------------------------------------- */

/* How a writer's meta keys appear in the segment: rank[id] is a key's
 * position in SEC_META_KEYS, order[] the writer's key ids by rank (n of
 * them), in_col[kv] is 1 for a meta value held by a meta column (indexed
 * by the writer's kv number); vars[row] is 1 for a row whose message is
 * stored as its variables (seg_tpl's vars, indexed by the writer's row),
 * tpl_rank[row] its template's rank in tpl (the default
 * shapes of its variables). */
typedef struct seg_block_keys {
    const uint32_t *rank;
    const uint32_t *order;
    uint32_t n;
    const uint8_t *in_col;
    const uint8_t *vars;
    const uint32_t *tpl_rank;
    const seg_tpl *tpl;
} seg_block_keys;

/* Reusable buffers of seg_block_encode. */
typedef struct seg_block_scratch {
    strbuf msgs, meta;
    strbuf shapes, text, digits, hex, one; /* the variable streams */
    int level;        /* zstd level of the blocks: set it before the first block */
    ZSTD_CCtx *plain; /* the digits' context, without the dictionary */
    uint32_t *key_count;
    size_t kc_cap;
} seg_block_scratch;

/* A compression context for row blocks with the options' level and
 * dictionary (*cdict is the caller's to free after the context). */
ZSTD_CCtx *seg_block_cctx(const seg_writer_opts *o, ZSTD_CDict **cdict);
/* Compress rows [from, to) of w as one row block (its message frame, then
 * its meta frame) appended to out, and fill its SEC_BLOCK_INDEX entry
 * (SEG_BLOCK_ENTRY_BYTES) with `offset`, the block's place in SEC_BLOCKS.
 * 0, or -1 with err. */
int seg_block_encode(const seg_writer *w, size_t from, size_t to, const seg_block_keys *keys,
                     ZSTD_CCtx *cctx, seg_block_scratch *s, strbuf *out, uint8_t *entry,
                     uint64_t offset, char *err, size_t errlen);
void seg_block_scratch_free(seg_block_scratch *s);

/* A writer that only stores rows (no terms are gathered) and can be
 * emptied again: the merge stages one block's rows in it. */
seg_writer *seg_writer_new_staging(const seg_writer_opts *opts);
/* Forget the rows (keys, services and hosts keep their ids). */
void seg_writer_clear_rows(seg_writer *w);
/* The writer's meta keys by id. */
uint32_t seg_writer_key_count(const seg_writer *w);
strata_str seg_writer_key(const seg_writer *w, uint32_t id);

/* ---- header and tail ------------------------------------------------------------ */

/* What the trailer records (format.h, SEG_TR_*). */
typedef struct seg_tail {
    uint64_t events;
    int64_t min_ingest, max_ingest, min_event, max_event;
    uint32_t dict_id, nblocks;
    uint64_t file_base; /* file offset of out's first byte: 0 when out is the whole file */
    uint16_t flags;     /* SEG_FLAG_* */
} seg_tail;
/* SEG_FLAG_SERVICE_TERMS / SEG_FLAG_HOST_TERMS when every name of n in
 * order is its own term (format.h). */
unsigned seg_names_flag(const sref *names, size_t n, unsigned flag);

/* The 16-byte file header. */
void seg_put_header(strbuf *out);
/* The section table (nsec entries) and the trailer, appended to out. */
void seg_put_tail(strbuf *out, const uint8_t *table, uint32_t nsec, const seg_tail *t);

/* ---- reader internals the merge walks ---------------------------------------- */

/* The flags column, info->events long. */
const uint8_t *seg_flags(const seg_reader *r);
/* The meta keys of a reader (SEC_META_KEYS, sorted) by rank. */
uint32_t seg_key_count(const seg_reader *r);
strata_str seg_key_name(const seg_reader *r, uint32_t rank);
/* For the row last read with seg_row_parts (with SEG_PART_META): the key
 * rank of each of its meta entries, in order. */
const uint32_t *seg_row_key_ranks(const seg_reader *r, uint32_t row);

/* A cursor over every term of a reader, in sorted order. */
typedef struct seg_tcur seg_tcur;
seg_tcur *seg_tcur_new(seg_reader *r);
/* Step to the next term: 1 with term, len and df set (valid until the next
 * step), 0 at the end, -1 on corruption (seg_error). */
int seg_tcur_next(seg_tcur *c, const char **term, size_t *len, uint32_t *df);
/* The current term's rows, ascending, into out (df entries); 0 or -1. */
int seg_tcur_rows(seg_tcur *c, uint32_t *out);
void seg_tcur_free(seg_tcur *c);

/* ---- the level column (levelcol.c) ---------------------------------------------------------- */

/* Append SEC_LEVEL's body (format.h) for rows of levels
 * level[n], ranked templates t (seg_tpl_rank done): by template or plain,
 * whichever is smaller, by template only when SEC_TEMPLATES stores the
 * rows' templates anyway (then t->columns is set). 0, or -1 on OOM. */
int seg_put_levels(strbuf *out, const uint8_t *level, size_t n, seg_tpl *t, int zlevel);
/* Read such a body at c into level[n]; rank[n] are the rows' templates
 * (each below ntpl), NULL when the segment stores none; tmp is n values of
 * scratch. NULL, or what is malformed. */
const char *seg_get_levels(cursor *c, const uint32_t *rank, uint32_t ntpl, uint8_t *level, size_t n,
                           int64_t *tmp);

#endif /* STRATA_SEGMENT_BUILD_H */
