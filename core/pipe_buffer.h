/*
 * core/pipe_buffer.h - a pipeline's durable buffer: the WAL between its
 * filters and its outputs (`buffer: wal` in the pipeline's YAML).
 *
 * With a WAL buffer, emit() appends each filtered batch to the WAL and the
 * input's acknowledgement fires after the fsync that covers it: acknowledged
 * means durable, whatever happens to the outputs. Each output then reads the
 * WAL from its own durable checkpoint on its worker thread (a WAL consumer
 * instead of an in-memory queue), so one slow or failing output never holds
 * back ingestion or the others. Segments every consumer has passed are
 * deleted. Delivery to outputs is at least once: a crash between a flush
 * and the next checkpoint replays at most WAL_CHECKPOINT_MS of records.
 *
 * Files: DATA_DIR/wal/PIPELINE/ (segments) and .../checkpoints/OUTPUT.
 * Thread: open/close/truncate on the loop thread; append from any thread;
 * consumers on the outputs' worker threads.
 */
#ifndef STRATA_CORE_PIPE_BUFFER_H
#define STRATA_CORE_PIPE_BUFFER_H

#include <pthread.h>
#include <stdatomic.h>

#include "batch.h"
#include "wal.h"

struct instance;
struct engine;

typedef struct pipe_buffer {
    char *pipeline;
    char *dir;
    wal *w;
    int64_t max_bytes;
    atomic_ullong durable_next; /* every record below this seq is durable */
    atomic_llong disk_bytes;    /* refreshed by pipe_buffer_maintain */
    atomic_ullong lag_records;  /* durable records the slowest output still holds back */
    pthread_mutex_t lock;       /* with cond: consumers wait for commits */
    pthread_cond_t cond;
    int in_use; /* referenced by the current graph (loop thread) */
    struct pipe_buffer *next;
} pipe_buffer;

/* Open (or create) DATA_DIR/wal/PIPELINE. NULL with err set on failure. */
pipe_buffer *pipe_buffer_open(const char *data_dir, const char *pipeline, int64_t segment_bytes,
                              int64_t max_bytes, char *err, size_t errlen);
void pipe_buffer_close(pipe_buffer *pb); /* NULL ok */
/* Room for more? (healthy and under max_bytes) */
int pipe_buffer_has_room(pipe_buffer *pb);
/* Append batch b (a reference is taken and dropped after the fsync) and
 * call done(status, arg) on the WAL thread once it is durable or failed. */
int pipe_buffer_append(pipe_buffer *pb, batch_t *b, void (*done)(int status, void *arg), void *arg);
/* Delete segments every listed consumer has checkpointed past, remove
 * checkpoints of consumers that no longer exist, refresh disk_bytes. */
void pipe_buffer_maintain(pipe_buffer *pb, const char *const *consumers, const uint64_t *positions,
                          size_t n);
/* The worker thread body of an output whose pipeline has a WAL buffer. */
void *pipe_buffer_consume(void *output_instance);
/* The WAL position an output no longer needs records before: where it has
 * consumed to, held back to what a deferred output (ABI 1.2) committed. */
uint64_t pipe_buffer_safe_next(struct instance *o);
/* Write an output's checkpoint once more after its stop() and its worker
 * are done, so that what a deferred output commits in stop() counts (at a
 * shutdown the worker drains, and writes its checkpoint, before stop()). */
void pipe_buffer_save_final(struct instance *o);

#endif /* STRATA_CORE_PIPE_BUFFER_H */
