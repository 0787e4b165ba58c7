/*
 * core/wal.h - the write-ahead log: Strata's durable buffer on one node.
 *
 * Files: DIR/SEQ20.wal, each starting at the record with sequence SEQ (20
 * zero-padded digits so names sort by sequence). Format version 1, all
 * integers little-endian:
 *
 *   segment header (32 bytes)
 *     u32 magic "SWAL" | u16 version | u16 reserved | u64 first_seq |
 *     i64 created_ns | u32 reserved | u32 crc32c(bytes 0..27)
 *   record (16-byte header + payload)
 *     u32 payload_len | u32 crc32c(seq as 8 bytes + payload) | u64 seq | payload
 *
 * Sequences start at 1 and increase by one per record across segments.
 *
 * Writing (wal_writer.c): wal_append queues a payload; one writer thread
 * gathers everything queued into one write and one fdatasync (group
 * commit), then calls each append's callback with its sequence. A callback
 * with status 0 means the record is on disk. A failed write or fsync is
 * cut off again (ftruncate to the last durable offset), reported to the
 * callbacks, and the WAL refuses appends (wal_healthy() = 0) until a retry
 * succeeds: it never acknowledges what is not durable.
 *
 * Reading (wal_reader.c): from any sequence, across segments, verifying
 * every checksum. A torn tail (the last record of the newest segment cut
 * short by a crash) is truncated when the writer opens the WAL, and
 * reported with its size. A bad record followed by more data is corruption:
 * it is reported (wal_check, the reader's error, a counter) and never served.
 *
 * Thread: wal_append and the readers from any thread; callbacks run on the
 * WAL's writer thread.
 */
#ifndef STRATA_CORE_WAL_H
#define STRATA_CORE_WAL_H

#include <stddef.h>
#include <stdint.h>

#define WAL_MAGIC 0x4c415753u /* "SWAL" */
#define WAL_VERSION 1
#define WAL_HEADER_BYTES 32
#define WAL_RECORD_HEADER 16
/* Largest record: a batch is at most 256 MiB, ingest batches are ~1 MiB. */
#define WAL_MAX_RECORD (256u << 20)
/* Default segment size before rotation: big enough that rotation (an open,
 * a directory fsync) is rare, small enough that deleting consumed data is
 * timely. */
#define WAL_DEFAULT_SEGMENT_BYTES (64ll << 20)
/* Most bytes one group commit gathers: bounds the latency one commit adds. */
#define WAL_MAX_COMMIT_BYTES (16u << 20)

/* Upper bounds (µs) of the commit-latency histogram buckets. */
#define WAL_COMMIT_BUCKETS 10
#define WAL_COMMIT_BOUNDS_US                                                                       \
    {                                                                                              \
        250, 500, 1000, 2000, 5000, 10000, 25000, 50000, 100000, 1000000                           \
    }

typedef struct wal wal;

/* Called on the writer thread when a record is durable (status 0, its
 * sequence in seq) or failed (negative status, seq 0). */
typedef void (*wal_done_fn)(int status, uint64_t seq, void *arg);

typedef struct wal_stats {
    uint64_t appended_records, appended_bytes;
    uint64_t commits, fsync_failures;
    uint64_t torn_bytes_truncated; /* at open */
    uint64_t first_seq, next_seq;  /* retained range [first, next) */
    uint64_t files, bytes;         /* on disk */
    uint64_t last_commit_us, max_commit_us;
    /* commit latency histogram (write + fdatasync): counts per bucket of
     * WAL_COMMIT_BOUNDS_US (cumulative is computed when rendering) */
    uint64_t commit_hist[WAL_COMMIT_BUCKETS + 1];
    uint64_t commit_us_sum;
} wal_stats;

/* Open (creating DIR if needed), recover, and start the writer thread.
 * Returns NULL with err set on failure. */
wal *wal_open(const char *dir, int64_t segment_bytes, char *err, size_t errlen);
/* Finish queued appends, stop the writer thread, close files. NULL ok. */
void wal_close(wal *w);
/* Queue a record. `data` must stay valid until `done` runs. Returns 0, or
 * STRATA_ERANGE for a record over WAL_MAX_RECORD, STRATA_ESTOPPING when
 * closing, STRATA_ERR while the WAL is unhealthy (disk full, I/O error). */
int wal_append(wal *w, const void *data, size_t len, wal_done_fn done, void *arg);
int wal_healthy(wal *w);
/* Would wal_append take a record now? (healthy, or unhealthy but due for
 * its next trial write: admission must let that one through or the WAL
 * could never find out that space returned) */
int wal_accepting(wal *w);
void wal_get_stats(wal *w, wal_stats *out);
/* Delete whole segments whose records are all below `seq` (every consumer
 * has checkpointed past them). Returns the number of files deleted. */
int wal_truncate_before(wal *w, uint64_t seq);

/* The lowest checkpoint of every consumer in DIR/checkpoints: 0 with
 * *lowest set, STRATA_ENOTFOUND when there is none, or an error (an
 * unreadable checkpoint: nothing may then be assumed consumed). */
int wal_checkpoints_lowest(const char *dir, uint64_t *lowest);
/* On a closed WAL (no writer open on dir) whose records below next_seq
 * every consumer has checkpointed past: leave one empty segment starting
 * at next_seq, so that a cleanly stopped node keeps no consumed bytes and
 * the next start goes on at next_seq (the checkpoints stay valid). The new
 * segment is made durable before any old one is deleted: a crash in
 * between leaves old segments that the next maintenance deletes. Returns
 * the bytes freed, or -1 (errno set). */
int64_t wal_retire_consumed(const char *dir, uint64_t next_seq);

/* ---- reading (any thread, independent of the writer) ------------------ */

typedef struct wal_reader wal_reader;

/* A reader positioned at the first record with sequence >= from. */
wal_reader *wal_reader_open(const char *dir, uint64_t from, char *err, size_t errlen);
void wal_reader_close(wal_reader *r);
/* Next record: 1 with data, len and seq set (valid until the next call),
 * 0 at the current end of the log, -1 on corruption (err says where; the
 * reader then skips to the next segment on the following call). */
int wal_reader_next(wal_reader *r, const void **data, size_t *len, uint64_t *seq, char *err,
                    size_t errlen);

/* Verify every segment in dir; prints one line per problem to `report`
 * (may be NULL) and returns the number of problems. A torn tail of the
 * newest segment counts as a problem only when `strict`. */
struct strbuf;
int wal_check(const char *dir, int strict, struct strbuf *report, uint64_t *records);

/* Durable consumer checkpoints: the file NAME in DIR/checkpoints (state-file format). */
int wal_checkpoint_put(const char *dir, const char *consumer, uint64_t seq);
int wal_checkpoint_get(const char *dir, const char *consumer, uint64_t *seq);

#endif /* STRATA_CORE_WAL_H */
