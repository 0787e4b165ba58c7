/*
 * segment/format.h - the bytes of a segment file, format version 17. The
 * layout is described byte by byte in docs/ARCHITECTURE.md ("Segment
 * format"); every limit here bounds what a reader accepts from a file.
 *
 *   header   16 bytes: "STRATSEG", u16 version, u16 flags, u32 reserved
 *   sections the parts, each anywhere after the header, each with a CRC32C
 *   table    n_sections x 24 bytes: u32 id, u32 crc32c, u64 offset, u64 length
 *   trailer  SEG_TRAILER_BYTES (layout below), ending in "STRATSEG"
 *
 * All integers are little-endian.
 */
#ifndef STRATA_SEGMENT_FORMAT_H
#define STRATA_SEGMENT_FORMAT_H

#define SEG_MAGIC "STRATSEG"
#define SEG_MAGIC_LEN 8
/* The one format version this build writes and reads; a reader refuses
 * any other with both versions named. */
#define SEG_VERSION 17
#define SEG_HEADER_BYTES 16
#define SEG_TABLE_ENTRY_BYTES 24

/* Trailer offsets. */
#define SEG_TR_EVENTS 0      /* u64 */
#define SEG_TR_MIN_INGEST 8  /* i64 */
#define SEG_TR_MAX_INGEST 16 /* i64 */
#define SEG_TR_MIN_EVENT 24  /* i64 */
#define SEG_TR_MAX_EVENT 32  /* i64 */
#define SEG_TR_TABLE_OFF 40  /* u64 */
#define SEG_TR_NSECTIONS 48  /* u32 */
#define SEG_TR_TABLE_CRC 52  /* u32 */
#define SEG_TR_DICT_ID 56    /* u32 */
#define SEG_TR_NBLOCKS 60    /* u32 */
#define SEG_TR_VERSION 64    /* u16 */
#define SEG_TR_FLAGS 66      /* u16 */
#define SEG_TR_CRC 68        /* u32: CRC32C of trailer bytes 0..67 */
#define SEG_TR_MAGIC 72      /* 8 bytes */
#define SEG_TRAILER_BYTES 80

/* Section ids. */
enum {
    SEC_TENANT = 1,       /* tenant bytes */
    SEC_INGEST_TS = 2,    /* intcol of ingest_ts deltas (first from 0) */
    SEC_EVENT_TS = 3,     /* intcol of event_ts deltas (first from 0) */
    SEC_LEVEL = 4,        /* intcol of level */
    SEC_FLAGS = 5,        /* intcol of flags */
    SEC_SERVICE_DICT = 6, /* varint count, then front-coded sorted strings */
    SEC_SERVICE = 7,      /* intcol of ids into SEC_SERVICE_DICT */
    SEC_HOST_DICT = 8,
    SEC_HOST = 9,
    SEC_META_KEYS = 10,    /* as SEC_SERVICE_DICT; blocks refer to keys by rank */
    SEC_BLOCK_INDEX = 11,  /* per block: u64 offset, u32 clen, u32 rows, u32 crc */
    SEC_BLOCKS = 12,       /* zstd frames of row payloads */
    SEC_TERM_INDEX = 13,   /* counts, chunk table, block table, first terms */
    SEC_TERMS = 14,        /* zstd chunks of front-coded term blocks */
    SEC_POSTINGS = 15,     /* roaring portable bitmaps, in term order */
    SEC_TERM_FILTER = 16,  /* fuse filter over every term's hash */
    SEC_BLOCK_FILTER = 17, /* u32 blocks, common terms, fuse filter over (term, block) */
    SEC_ROLLUP = 18,       /* counts per minute x service x level */
    SEC_META_COLUMNS = 19, /* typed columns of frequent meta keys */
    SEC_TEMPLATES = 20,    /* each row's template, the templates' texts */
    SEC_COUNT_ = 21
};

/* A block index entry: u64 offset, u32 message frame length, u32 rows,
 * u32 its crc32c, u32 meta frame length, u32 its crc32c; the meta frame
 * follows the message frame, so that meta is read without decompressing a
 * message byte (aggregates over meta.KEY). */
#define SEG_BLOCK_ENTRY_BYTES 28
/* Block index entry offsets. */
#define SEG_BE_OFFSET 0     /* u64: the block's message frame, within SEC_BLOCKS */
#define SEG_BE_CLEN 8       /* u32: message frame length */
#define SEG_BE_ROWS 12      /* u32 */
#define SEG_BE_CRC 16       /* u32: crc32c of the message frame */
#define SEG_BE_META_CLEN 20 /* u32: meta frame length */
#define SEG_BE_META_CRC 24  /* u32: crc32c of the meta frame */

/* Terms per front-coded block. 32 keeps a lookup to one binary search over
 * the sparse index plus at most 31 prefix-decoded terms. */
#define SEG_TERMS_PER_BLOCK 32u
/* Term blocks per zstd-compressed chunk. A lookup decompresses one chunk
 * (512 terms, a few KiB): small enough to cost microseconds, large enough
 * for zstd to find the repetition in the terms. */
#define SEG_TERM_BLOCKS_PER_CHUNK 16u
/* Entry sizes in SEC_TERM_INDEX: a chunk (u64 offset, u32 compressed
 * length, u32 raw length) and a block (u32 offset of its first term in the
 * first-terms area, u32 offset in its chunk's text stream, u64 postings
 * base). */
#define SEG_TERM_CHUNK_ENTRY_BYTES 16u
#define SEG_TERM_BLOCK_ENTRY_BYTES 16u
/* A chunk's raw bytes are three streams: the terms' suffix bytes, their
 * numbers (shared prefix and suffix lengths, df, inline rows after the
 * first, postings lengths) and the first row of every inline list
 * bit-packed. Text next to text compresses better, and a row number costs
 * its bits instead of a 3-byte varint. The chunk starts with a header of
 * SEG_TCHUNK_HEAD_BYTES and then SEG_TCHUNK_BLOCK_BYTES per block of the
 * chunk. It is stored as three zstd frames, cut where its numbers and its
 * bit-packed first rows start, so that each stream gets entropy tables of
 * its own; a reader decompresses them one after the other. */
/* u8 row bits | u32 inline lists | u32 text length | u32 numbers length */
#define SEG_TCHUNK_HEAD_BYTES 13u
/* per block: u32 offset in the numbers stream | u32 index of its first inline list */
#define SEG_TCHUNK_BLOCK_BYTES 8u
/* The largest raw chunk a reader accepts. */
#define SEG_MAX_TERM_CHUNK_RAW (64u << 20)
/* The term index (SEC_TERM_INDEX) is one zstd frame, decompressed when
 * the segment opens: its first terms share long
 * prefixes and its offsets grow slowly, so it shrinks to about a quarter.
 * The largest decompressed index a reader accepts: well above what the
 * largest merge (SEG_MAX_EVENTS rows) writes, small enough that a corrupt
 * size cannot make a reader allocate without bound. */
#define SEG_MAX_TERM_INDEX_RAW (512ull << 20)
/* Postings of at most this many rows are stored inline in the term entry as
 * delta varints: a roaring bitmap costs 16+ bytes of headers even for one
 * row, while a delta varint costs 1-3 bytes; most terms (ids, numbers) occur
 * a few times only. Readers turn inline lists into bitmaps on lookup. */
#define SEG_INLINE_POSTINGS 16u

/* Postings of more than SEG_INLINE_POSTINGS rows live in SEC_POSTINGS, each
 * as one tag byte and then either a CRoaring portable bitmap, the same
 * delta varints as inline lists or an Elias-Fano list
 * (segment/eliasfano.h), whichever is smallest (short lists: varints;
 * lists spread over the segment: Elias-Fano; dense ones: roaring containers
 * and runs). Readers return a roaring bitmap whichever it is. */
#define SEG_POSTINGS_ROARING 0
#define SEG_POSTINGS_DELTA 1
#define SEG_POSTINGS_EF 2
#define SEG_POSTINGS_TEMPLATES 3 /* whole templates (SEC_TEMPLATES, below) */
/* A term whose rows equal an earlier term's (the words of one log
 * template) stores no entry of its own: its length is written as 0 and
 * followed by the earlier entry's offset and length. */

/* Rows per compressed block by default (measured in bench/segments: see
 * docs/BENCHMARKS.md; larger blocks compress better, smaller ones make a
 * single-row fetch cheaper). */
#define SEG_DEFAULT_BLOCK_EVENTS 8192u
/* zstd level for fresh (L0) segments: fast enough to keep up with ingest.
 * Compaction rewrites with SEG_COMPACT_ZSTD_LEVEL. */
#define SEG_DEFAULT_ZSTD_LEVEL 3
#define SEG_COMPACT_ZSTD_LEVEL 19

/* The block filter's common terms. A term in many row blocks (a
 * template's words, a busy service) costs SEG_BLOCK_FILTER_PAIR_EIGHTHS
 * eighths of a bit per block in the pairs' fuse filter; one bit per block
 * of the segment costs less once it is in enough of them. SEC_BLOCK_FILTER
 * then lists such a term's hash with the set of blocks holding it,
 * exactly, and leaves it out of the fuse filter; identical sets are stored
 * once: a few thousand terms of a large segment hold a large share of its
 * (term, block) pairs. A term is common when its entry
 * (SEG_COMMON_ENTRY_BITS: u64 hash, u32 set) and its set (one bit per
 * block) cost fewer bits than its pairs: so a segment of few blocks has
 * none. */
#define SEG_COMMON_ENTRY_BITS 96u

/* A message's variables in streams by kind. A variable is
 * decimal (digits only), hex (lowercase hex digits with a letter a-f),
 * 0x-hex ("0x" then lowercase hex digits) or text (anything else); its
 * shape is varint(length << 2 | kind), the length of a 0x-hex one without
 * its "0x". After the whole messages a row block's message frame holds
 * varint X | varint D | varint H, then per row stored as variables a u8:
 * SEG_SHAPES_DEFAULT when its variables have the shapes of its template's
 * first row (stored with the texts in SEC_TEMPLATES), or SEG_SHAPES_OWN
 * followed by its variables' shapes; then X bytes of text variables, D
 * bytes of decimal digits, H bytes of hex digits, each variable's bytes
 * after the last's in row order. The payload is cut where the digits and
 * where the hex digits start, and each non-empty part is a zstd frame of
 * its own, so that each gets entropy tables of its own alphabet: random
 * digits then cost close to their entropy, where lines mixing them with
 * letters, spaces and punctuation cost more. Digits stay text rather than
 * binary because real logs repeat values, which zstd matches as text. The
 * digit and hex digit frames are compressed without the segment's
 * dictionary (trained on text, it makes random digits larger): each frame
 * is read with the dictionary its header names, or none. */
#define SEG_VAR_TEXT 0u
#define SEG_VAR_DEC 1u
#define SEG_VAR_HEX 2u
#define SEG_VAR_0X 3u
#define SEG_SHAPES_DEFAULT 0u
#define SEG_SHAPES_OWN 1u
/* The host column (SEC_HOST) starts with a u8 coding:
 * SEG_HOSTS_PLAIN, then the intcol of each row's host rank; or
 * SEG_HOSTS_BY_SERVICE, then varint pairs, bytes of one zstd frame holding
 * per service rank in order a varint count and its hosts' ranks ascending
 * as varint gaps (the first rank itself, then rank - previous - 1), then
 * the intcol of each row's index among its service's hosts. The writer and
 * the merge keep the smaller (segment/hostcol.c). A service runs on few of
 * the hosts, so a host given its service takes far fewer bits than a host
 * among all of them. */
#define SEG_HOSTS_PLAIN 0u
#define SEG_HOSTS_BY_SERVICE 1u

/* The filters are binary fuse filters (segment/fuse.c). SEC_TERM_FILTER
 * holds one over every term's hash with SEG_FILTER_WIDTH-bit fingerprints;
 * SEC_BLOCK_FILTER holds u32 blocks, the common terms (above), then one
 * over the key (seg_fuse_pair_key) of every other (term, block) pair with
 * SEG_BLOCK_FILTER_WIDTH-bit fingerprints. A fuse filter of w-bit
 * fingerprints and arity 4 passes a key not in it with probability 2^-w in
 * about 1.075 w bits per key, where a bloom filter needs 1.44 bits per key
 * for each bit of that rate: 0.78% in 7.5 bits a term and 1.6% in 6.45 bits
 * a pair (arity 3, 1.125 w bits, measured larger). A filter is split in
 * 2^part_log parts by its keys' top bits, 1-2M keys each, so that the
 * merge builds one part at a time. */
#define SEG_FILTER_WIDTH 7u
#define SEG_BLOCK_FILTER_WIDTH 6u
#define SEG_FUSE_ARITY 4u
/* What a (term, block) pair costs in the block filter, in eighths of a bit
 * (1.075 x SEG_BLOCK_FILTER_WIDTH): a term is common when its
 * entry and set cost less than its pairs. */
#define SEG_BLOCK_FILTER_PAIR_EIGHTHS 52u
/* The level column (SEC_LEVEL) starts with a u8 coding:
 * SEG_LEVELS_PLAIN, then the intcol of each row's level; or
 * SEG_LEVELS_BY_TEMPLATE, then the bytes of one zstd frame holding per
 * template rank (SEC_TEMPLATES) the level of all its rows, or
 * SEG_LEVEL_MIXED, then the level of each row of a mixed template in row
 * order (segment/levelcol.c). A log line is mostly written at one level,
 * so many templates have a single one and the level given the template
 * takes few bits. The writer and the merge keep the smaller, and code by
 * template only when SEC_TEMPLATES stores the rows' templates anyway. */
#define SEG_LEVELS_PLAIN 0u
#define SEG_LEVELS_BY_TEMPLATE 1u
#define SEG_LEVEL_MIXED 0xffu
/* Limits a reader holds a fuse filter to: fingerprints fit a byte; 4096
 * parts of 2^21 keys are 2^33 keys, past any segment's terms; segments of
 * 2^18 slots are the paper's largest. */
#define SEG_FUSE_MAX_WIDTH 8u
#define SEG_FUSE_MAX_PART_LOG 12u
#define SEG_FUSE_MAX_SEG_LOG 18u

/* Bytes of one shape's varint: a variable is at most SEG_MAX_STRING (2^24)
 * bytes, so length << 2 | kind is below 2^28. */
#define SEG_SHAPE_VARINT_MAX 4u

/* Meta columns (SEC_META_COLUMNS). A key becomes a column when at least
 * 1/SEG_META_COL_MIN_SHARE of the rows (and SEG_META_COL_MIN_ROWS) have a
 * non-null value for it: rarer keys would pay a presence column for little.
 * A column holds each row's first non-null value of the key; further
 * values of the same key in a row stay in the row block. NUMBER when every
 * such value is an integer spelled canonically (so that printing it back
 * gives the same bytes), else DICT when there are at most
 * 1/SEG_META_COL_MAX_DISTINCT_SHARE as many distinct values as rows with
 * the key (a dictionary of unique ids, trace ids say, would save nothing
 * over the compressed row block). At most SEG_MAX_META_COLUMNS per
 * segment, the most frequent keys first: it bounds what a reader decodes. */
#define SEG_META_COL_MIN_SHARE 8u
#define SEG_META_COL_MIN_ROWS 16u
#define SEG_META_COL_MAX_DISTINCT_SHARE 2u
#define SEG_MAX_META_COLUMNS 16u
#define SEG_META_COL_NUMBER 1u
#define SEG_META_COL_DICT 2u
/* A column whose every value of its key is a lowercase hexadecimal
 * string of one length (trace ids, span ids, hashes) is a HEX column: its
 * distinct values are stored once, sorted (as an Elias-Fano sequence,
 * below), and each row holds the ordinal of its value. Such a value is one token
 * equal to itself, so the column is also the term dictionary of its
 * namespace: "meta.KEY:" terms are not in SEC_TERMS, a lookup binary-
 * searches the values and finds the rows through the ordinals (inverted
 * once per reader), so a trace id is stored once, not in its row block
 * and again in the term dictionary. Eligible keys: every kv of the
 * key in the segment is a non-null string of SEG_HEX_MIN_DIGITS to
 * SEG_HEX_MAX_DIGITS digits [0-9a-f], all of one length, at most one per
 * row, and the key holds no ':' (so that no namespace is a prefix of
 * another's) and is short enough to be indexed (seg_key_holds_terms). */
#define SEG_META_COL_HEX 3u
/* A HEX column's sorted distinct values are an Elias-Fano sequence: with
 * n values of b bits (4 per digit),
 * L = b - ceil(log2 n) low bits of each are kept as they are, and the rest
 * (below 2^ceil(log2 n)) in unary in a bit vector, bit (v >> L) + i set for
 * value i: about ceil(log2 n) - 2 bits less per value (1M 16-digit trace
 * ids: 5.75 instead of 8 bytes each, two digits a byte). Readers decode it
 * to packed digits on first use, so that lookups binary-search them. */
/* A column whose every value is one term of its namespace,
 * exactly as the value reads, holds those terms: the service column the
 * "service:" terms when every service name is its own term (lowercase, at
 * most a token's length), the host column the "host:" terms likewise (trailer
 * flags SEG_FLAG_SERVICE_TERMS, SEG_FLAG_HOST_TERMS), and a dictionary meta
 * column of kind SEG_META_COL_TERMS its "meta.KEY:" terms when every kv of
 * the key is a string, at most one per row, that tokenizes to exactly
 * itself (user ids, region names). As for HEX columns these terms are not
 * in SEC_TERMS: a host or a user id is stored once, in the column's
 * dictionary. The readers find the rows through the column, inverted once.
 * An empty value is no term (the tokenizer yields none). */
#define SEG_META_COL_TERMS 4u
#define SEG_FLAG_SERVICE_TERMS 1u
#define SEG_FLAG_HOST_TERMS 2u

/* Row templates. A message's template is its text with every
 * maximal run of ASCII letters and digits that holds a digit made one
 * placeholder (seg_template_key in build.h: "Received block blk_-12 of
 * size 848" and "Received block blk_-97 of size 3" share one). Rows of the
 * same template key form a group, and SEC_TEMPLATES stores each row's
 * group by rank (templates ranked most rows first, then by key): varint n
 * (templates; 0 when nothing refers to them); then, when n > 0, u8 planes (the bytes a rank below
 * n takes, 1-4) and per plane a varint length and one zstd frame of
 * `events` bytes, byte p of every row's rank (planes compress to about the
 * ranks' entropy). A term of the
 * dictionary with more than SEG_INLINE_POSTINGS rows that are exactly the
 * rows of at most 1 / SEG_TEMPLATE_MIN_ROWS as many templates (the words of
 * a line's fixed text; a meta value that follows the line, such as its
 * component) has a
 * SEG_POSTINGS_TEMPLATES entry: the tag, varint k, then those k ranks
 * (ascending) as a postings entry of its own (tag and body, over 0..n-1).
 * The writer and the merge decide it the same way from the rows, so a
 * merge equals a segment built from the union. */
/* Rows per template a term's templates must have on average for it to
 * refer to them: where every row is its own template (messages that vary
 * in words, not numbers) a list of templates is no shorter than the rows,
 * and costs a lookup the inversion. */
#define SEG_TEMPLATE_MIN_ROWS 4u
/* Messages as variables. SEC_TEMPLATES also stores the text of
 * each template (the message of its first row with each variable, a
 * maximal run of ASCII letters and digits that holds a digit, made one
 * SEG_TEMPLATE_VAR_BYTE): after the planes, a varint length and one zstd
 * frame of, per rank, varint text length + 1 (0: none stored), then the
 * texts in rank order, then the default shapes of each text's variables
 * (SEG_SHAPES_DEFAULT above). n is the template count whenever a row is
 * stored as variables, a term refers to templates, a dictionary column's
 * ranks or the levels follow them. A row block's message
 * frame holds, after the row count, per row a varint c: 0 for a message
 * stored as its variables, else the length + 1 of a message kept whole;
 * then the whole messages' bytes in row order; then the variables of the
 * rows stored as variables, in streams by kind (above). A message is kept whole when it holds a
 * SEG_TEMPLATE_VAR_BYTE, when its key's first row gave another text (a hash collision), or when its
 * key's text did not fit SEG_TEMPLATE_TEXT_MAX. The fixed text of a line
 * is most of a block's bytes, and stored once per template it leaves the
 * blocks only the variables. */
#define SEG_TEMPLATE_VAR_BYTE 0x11
/* The template texts one segment stores, at most: a writer or a merge
 * holds them in memory, and a reader with the segment. Real logs have
 * thousands of templates of a few hundred bytes; a tenant whose every line
 * is its own template keeps the rest of its lines whole past this. */
#define SEG_TEMPLATE_TEXT_MAX (16u << 20)
/* In a dictionary meta column (kinds 2 and 4) a u8 coding precedes the
 * ranks: SEG_RANKS_PLAIN, the intcol of each present row's
 * rank; or SEG_RANKS_BY_TEMPLATE, where a present row's rank is the last
 * rank of the rows of its template (SEC_TEMPLATES) before it, except for
 * the rows listed: varint count, the intcol of their gaps (their index
 * among the present rows minus the previous one's minus 1, the first's
 * from 0), the intcol of their ranks. A template's first row with a value
 * is always listed. The writer keeps whichever coding is smaller. A value
 * that follows the log line (the logger, the component: the same for
 * every row of a template) then costs a few bytes per template instead of
 * some per row. */
#define SEG_RANKS_PLAIN 0u
#define SEG_RANKS_BY_TEMPLATE 1u
/* At most one listed row in this many present rows: a listed row costs
 * its gap's bits and its rank's, a plain rank its own bits, so past half
 * the rows the plain ranks are smaller; a writer then stops keeping the
 * list (which it holds, 16 bytes a listed row, until the column is
 * written). */
#define SEG_RANKS_EXCEPTION_SHARE 2u

/* Every dictionary (sections 6, 8 and 10, and the dictionaries of meta
 * columns) is `varint count | bytes` of one zstd frame (the segment's
 * level) holding the front-coded strings: sorted ids and names share more
 * than their prefixes, which zstd finds and front coding alone does not. */

/* 128 bits: W3C trace ids and UUIDs without dashes; longer hex (sha256)
 * stays a string. */
#define SEG_HEX_MAX_DIGITS 32u
/* Below 8 digits (32 bits) values repeat and a dictionary column does as well. */
#define SEG_HEX_MIN_DIGITS 8u

/* The rollup's time unit: counts per minute of event time. Dashboards ask
 * for 1 minute and up; finer intervals read the columns. */
#define SEG_ROLLUP_NS 60000000000ll

/* Reader limits: bounds on what a file may claim before we allocate. */
#define SEG_MAX_EVENTS (64u << 20)       /* rows in one segment */
#define SEG_MAX_RAW_BYTES (4ull << 30)   /* raw bytes one writer holds */
#define SEG_MAX_SECTIONS 64u             /* table entries */
#define SEG_MAX_BLOCK_EVENTS 65536u      /* rows per block */
#define SEG_MAX_BLOCK_RAW (256u << 20)   /* uncompressed block payload */
#define SEG_MAX_DICT_ENTRIES (16u << 20) /* service/host/meta-key dictionary */
#define SEG_MAX_DICT_RAW (1ull << 30)    /* a dictionary's front-coded bytes */
#define SEG_MAX_STRING (16u << 20)       /* one msg / value / dictionary string */
/* Tokens of one value of a dictionary of terms: at most TOK_MAX_BYTES (64)
 * bytes give at most 32 one-byte words and their whole. */
#define SEG_MAX_TOKENS_PER_TERM 33u
#define SEG_MAX_TERM 1024u         /* a namespaced term: "meta." + key + ":" + token */
#define SEG_MAX_META_PER_ROW 1024u /* as BATCH_MAX_META */
#define SEG_MAX_META_KEYS 65536u   /* distinct meta keys in one segment */

#endif /* STRATA_SEGMENT_FORMAT_H */
