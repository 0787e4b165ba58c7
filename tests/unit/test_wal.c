/*
 * tests/unit/test_wal.c - the write-ahead log:
 *   - concurrent appends get unique, dense sequences and read back exactly;
 *   - group commit puts many appends in one fsync;
 *   - rotation, reading across segments, deleting consumed segments;
 *   - a torn tail is truncated (and reported) when the WAL reopens;
 *   - a flipped byte in the middle is detected and reported, never served;
 *   - SIGKILL at random moments never loses an acknowledged record.
 */
#include "test_util.h"

#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "batch.h"
#include "crc32c.h"
#include "strata/abi.h"
#include "strbuf.h"
#include "wal.h"
#include "wal_segment.h"

typedef struct acks {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done, failed;
    uint64_t *seqs;
} acks;

static void on_done(int status, uint64_t seq, void *arg)
{
    acks *a = *(acks **)arg;
    pthread_mutex_lock(&a->lock);
    if (status == 0)
        a->seqs[a->done] = seq;
    else
        a->failed++;
    a->done++;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->lock);
}

static void wait_done(acks *a, int n)
{
    pthread_mutex_lock(&a->lock);
    while (a->done < n)
        pthread_cond_wait(&a->cond, &a->lock);
    pthread_mutex_unlock(&a->lock);
}

#define PER_THREAD 2000
#define THREADS 4

typedef struct worker {
    wal *w;
    acks *a;
    int id;
    char payload[PER_THREAD][32];
    acks *self[PER_THREAD];
} worker;

static void *append_many(void *arg)
{
    worker *wk = arg;
    for (int i = 0; i < PER_THREAD; i++) {
        snprintf(wk->payload[i], sizeof wk->payload[i], "t%d-%d", wk->id, i);
        wk->self[i] = wk->a;
        assert_int_equal(
            wal_append(wk->w, wk->payload[i], strlen(wk->payload[i]) + 1, on_done, &wk->self[i]),
            0);
    }
    return NULL;
}

static int cmp_u64(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return a < b ? -1 : a > b;
}

static void test_concurrent_appends_read_back_exactly(void **state)
{
    (void)state;
    char *dir = tmpdir_new();
    char err[256];
    wal *w = wal_open(dir, 64 << 10, err, sizeof err); /* small segments: rotation too */
    assert_non_null(w);
    acks a = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, NULL};
    a.seqs = calloc(THREADS * PER_THREAD, sizeof *a.seqs);
    static worker wk[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        wk[i].w = w;
        wk[i].a = &a;
        wk[i].id = i;
        pthread_create(&t[i], NULL, append_many, &wk[i]);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    wait_done(&a, THREADS * PER_THREAD);
    assert_int_equal(a.failed, 0);
    qsort(a.seqs, THREADS * PER_THREAD, sizeof *a.seqs, cmp_u64);
    for (int i = 0; i < THREADS * PER_THREAD; i++)
        assert_int_equal(a.seqs[i], (uint64_t)i + 1); /* dense and unique */
    wal_stats st;
    wal_get_stats(w, &st);
    assert_int_equal(st.appended_records, THREADS * PER_THREAD);
    assert_true(st.commits < st.appended_records); /* group commit gathered appends */
    assert_true(st.files > 1);                     /* it rotated */
    wal_close(w);

    /* every record comes back, in sequence order, each thread's in its order */
    wal_reader *r = wal_reader_open(dir, 1, err, sizeof err);
    int next[THREADS] = {0};
    const void *data;
    size_t len;
    uint64_t seq, expect = 1;
    int rc;
    while ((rc = wal_reader_next(r, &data, &len, &seq, err, sizeof err)) == 1) {
        assert_int_equal(seq, expect++);
        int tid, i;
        assert_int_equal(sscanf(data, "t%d-%d", &tid, &i), 2);
        assert_int_equal(i, next[tid]++);
    }
    assert_int_equal(rc, 0);
    assert_int_equal(expect, THREADS * PER_THREAD + 1);
    wal_reader_close(r);
    free(a.seqs);
    rm_rf(dir);
    free(dir);
}

/* Append n small records and wait for them. */
static void fill(wal *w, int n, const char *tag)
{
    acks a = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, NULL};
    a.seqs = calloc((size_t)n, sizeof *a.seqs);
    char(*p)[64] = calloc((size_t)n, 64);
    acks **self = calloc((size_t)n, sizeof *self);
    for (int i = 0; i < n; i++) {
        snprintf(p[i], 64, "%s record %d with some padding to fill pages", tag, i);
        self[i] = &a;
        assert_int_equal(wal_append(w, p[i], strlen(p[i]), on_done, &self[i]), 0);
    }
    wait_done(&a, n);
    assert_int_equal(a.failed, 0);
    free(a.seqs);
    free(p);
    free(self);
}

static void test_torn_tail_is_truncated_and_reported(void **state)
{
    (void)state;
    char *dir = tmpdir_new();
    char err[256];
    wal *w = wal_open(dir, 0, err, sizeof err);
    fill(w, 100, "a");
    wal_close(w);
    /* cut the last record short, as a crash in the middle of a write would */
    wal_seg *segs;
    size_t n;
    assert_int_equal(wal_seg_list(dir, &segs, &n), 0);
    struct stat st;
    stat(segs[n - 1].path, &st);
    assert_int_equal(truncate(segs[n - 1].path, st.st_size - 7), 0);
    free(segs);
    strbuf rep = {0};
    uint64_t records;
    assert_int_equal(wal_check(dir, 0, &rep, &records), 0); /* torn tail: not a problem */
    assert_contains(rep.buf, "torn tail");
    assert_int_equal(wal_check(dir, 1, NULL, &records), 1); /* unless strict */
    assert_int_equal(records, 99);
    sb_free(&rep);

    w = wal_open(dir, 0, err, sizeof err);
    assert_non_null(w);
    wal_stats ws;
    wal_get_stats(w, &ws);
    assert_true(ws.torn_bytes_truncated > 0);
    assert_int_equal(ws.next_seq, 100); /* record 100 was torn: it was never acknowledged */
    fill(w, 10, "b");
    wal_close(w);
    assert_int_equal(wal_check(dir, 1, NULL, &records), 0);
    assert_int_equal(records, 109);
    rm_rf(dir);
    free(dir);
}

static void test_flipped_byte_is_detected_never_served(void **state)
{
    (void)state;
    char *dir = tmpdir_new();
    char err[512];
    wal *w = wal_open(dir, 8192, err, sizeof err);
    fill(w, 400, "c"); /* several segments */
    wal_close(w);
    wal_seg *segs;
    size_t n;
    assert_int_equal(wal_seg_list(dir, &segs, &n), 0);
    assert_true(n >= 3);
    /* flip a byte in the middle of the second segment's data */
    FILE *f = fopen(segs[1].path, "r+b");
    fseek(f, 2000, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 2000, SEEK_SET);
    fputc(c ^ 0x40, f);
    fclose(f);
    strbuf rep = {0};
    uint64_t records;
    assert_int_equal(wal_check(dir, 0, &rep, &records), 1);
    assert_contains(rep.buf, segs[1].path);
    assert_contains(rep.buf, "corrupt");
    sb_free(&rep);
    /* the reader reports the corruption at that point and never returns a
     * record from the damaged range; it resumes with the next segment */
    wal_reader *r = wal_reader_open(dir, 1, err, sizeof err);
    const void *data;
    size_t len;
    uint64_t seq, last = 0;
    int rc, corrupt = 0, good = 0;
    while ((rc = wal_reader_next(r, &data, &len, &seq, err, sizeof err)) != 0) {
        if (rc < 0) {
            corrupt++;
            assert_contains(err, "checksum mismatch");
            continue;
        }
        assert_true(seq > last);
        last = seq;
        char expect[64];
        snprintf(expect, sizeof expect, "c record %llu with", (unsigned long long)seq - 1);
        assert_memory_equal(data, expect, strlen(expect)); /* no garbage served */
        good++;
    }
    assert_int_equal(corrupt, 1);
    assert_true(good > 200 && good < 400); /* only the rest of one segment is lost */
    assert_int_equal(last, 400);
    wal_reader_close(r);
    free(segs);
    rm_rf(dir);
    free(dir);
}

static void test_consumed_segments_are_deleted(void **state)
{
    (void)state;
    char *dir = tmpdir_new();
    char err[256];
    wal *w = wal_open(dir, 4096, err, sizeof err);
    fill(w, 300, "d");
    wal_stats st;
    wal_get_stats(w, &st);
    uint64_t files = st.files;
    assert_true(files > 3);
    assert_int_equal(wal_checkpoint_put(dir, "indexer", 150), 0);
    uint64_t ck = 0;
    assert_int_equal(wal_checkpoint_get(dir, "indexer", &ck), 0);
    assert_int_equal(ck, 150);
    assert_int_equal(wal_checkpoint_get(dir, "nobody", &ck), STRATA_ENOTFOUND);
    int deleted = wal_truncate_before(w, 150);
    assert_true(deleted > 0);
    wal_get_stats(w, &st);
    assert_int_equal(st.files, files - (uint64_t)deleted);
    assert_true(st.first_seq <= 150); /* nothing at or after the checkpoint went */
    wal_close(w);
    /* a reader asking for deleted records starts at the oldest kept one */
    wal_reader *r = wal_reader_open(dir, 1, err, sizeof err);
    const void *data;
    size_t len;
    uint64_t seq;
    assert_int_equal(wal_reader_next(r, &data, &len, &seq, err, sizeof err), 1);
    assert_int_equal(seq, st.first_seq);
    wal_reader_close(r);
    rm_rf(dir);
    free(dir);
}

/* ---- crash test: SIGKILL a writer at random moments -------------------- */

static int ack_fd;

static void child_done(int status, uint64_t seq, void *arg)
{
    (void)arg;
    if (status == 0 && write(ack_fd, &seq, sizeof seq) != sizeof seq)
        _exit(3);
}

/* The child appends records "seq-hint N" forever, reporting acks. */
static void child_main(const char *dir, int fd)
{
    ack_fd = fd;
    char err[256];
    wal *w = wal_open(dir, 256 << 10, err, sizeof err);
    if (!w)
        _exit(2);
    /* payloads must not change until acknowledged: 26 constant buffers */
    static char payload[26][512];
    for (int k = 0; k < 26; k++)
        memset(payload[k], 'a' + k, sizeof payload[k]);
    for (unsigned i = 0;; i++)
        while (wal_append(w, payload[i % 26], 100 + i % 400, child_done, NULL) != 0)
            ;
}

static void test_sigkill_never_loses_an_acknowledged_record(void **state)
{
    (void)state;
    char *dir = tmpdir_new();
    uint64_t acked_max = 0, total_acked = 0;
    unsigned seed = (unsigned)time(NULL);
    for (int round = 0; round < 5; round++) {
        int p[2];
        assert_int_equal(pipe(p), 0);
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            child_main(dir, p[1]);
        }
        close(p[1]);
        usleep(20000 + (useconds_t)(rand_r(&seed) % 200000));
        kill(pid, SIGKILL);
        uint64_t seq;
        while (read(p[0], &seq, sizeof seq) == sizeof seq) {
            if (seq > acked_max)
                acked_max = seq;
            total_acked++;
        }
        close(p[0]);
        int status;
        waitpid(pid, &status, 0);
        /* every acknowledged record is there, exactly once, in order */
        char err[512];
        wal *w = wal_open(dir, 256 << 10, err, sizeof err); /* repairs a torn tail */
        assert_non_null(w);
        wal_close(w);
        wal_reader *r = wal_reader_open(dir, 1, err, sizeof err);
        const void *data;
        size_t len;
        uint64_t got, expect = 1;
        int rc;
        while ((rc = wal_reader_next(r, &data, &len, &got, err, sizeof err)) == 1)
            assert_int_equal(got, expect++);
        if (rc != 0)
            print_error("reader: %s\n", err);
        assert_int_equal(rc, 0);
        wal_reader_close(r);
        assert_true(expect - 1 >= acked_max);
    }
    assert_true(total_acked > 0);
    uint64_t records;
    assert_int_equal(wal_check(dir, 1, NULL, &records), 0);
    rm_rf(dir);
    free(dir);
}

static void test_crc32c_chains_and_matches_the_standard(void **state)
{
    (void)state;
    assert_int_equal(crc32c(0, "123456789", 9), 0xe3069283u);
    char buf[1000];
    for (int i = 0; i < 1000; i++)
        buf[i] = (char)(i * 7);
    for (size_t cut = 0; cut <= 1000; cut += 37)
        assert_int_equal(crc32c(crc32c(0, buf, cut), buf + cut, 1000 - cut), crc32c(0, buf, 1000));
}

/* Run a command, capture stdout+stderr; returns the exit status. */
static int run_capture(const char *cmd, strbuf *out)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0)
        sb_append(out, buf, n);
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli_dump_and_check(void **state)
{
    (void)state;
    const char *bin = getenv("STRATA_BIN");
    if (!bin)
        skip();
    char *dir = tmpdir_new();
    char err[256];
    wal *w = wal_open(dir, 0, err, sizeof err);
    acks a = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, NULL};
    a.seqs = calloc(3, sizeof *a.seqs);
    acks *self[3] = {&a, &a, &a};
    batch_t *b[3];
    for (int i = 0; i < 3; i++) {
        b[i] = batch_new("t");
        strata_event ev;
        strata_event_init(&ev);
        char msg[64];
        snprintf(msg, sizeof msg, "payment %d declined", i);
        ev.msg = strata_cstr(msg);
        ev.service = strata_cstr("payments");
        ev.level = STRATA_LEVEL_ERROR;
        batch_append(b[i], &ev);
        assert_int_equal(wal_append(w, b[i]->data, b[i]->len, on_done, &self[i]), 0);
    }
    wait_done(&a, 3);
    wal_close(w);
    char cmd[1024];
    strbuf out = {0};
    snprintf(cmd, sizeof cmd, "%s wal dump %s 2>&1", bin, dir);
    assert_int_equal(run_capture(cmd, &out), 0);
    assert_contains(out.buf, "{\"seq\":2,\"event\":{");
    assert_contains(out.buf, "\"msg\":\"payment 1 declined\"");
    assert_contains(out.buf, "\"level\":\"ERROR\"");
    sb_reset(&out);
    snprintf(cmd, sizeof cmd, "%s wal dump %s --from 3 2>&1", bin, dir);
    assert_int_equal(run_capture(cmd, &out), 0);
    assert_null(strstr(out.buf, "payment 1"));
    assert_contains(out.buf, "payment 2");
    sb_reset(&out);
    snprintf(cmd, sizeof cmd, "%s wal check %s 2>&1", bin, dir);
    assert_int_equal(run_capture(cmd, &out), 0);
    assert_contains(out.buf, "3 records, 0 problems");
    /* damage the middle record: check fails and names the file and offset */
    wal_seg *segs;
    size_t n;
    wal_seg_list(dir, &segs, &n);
    FILE *f = fopen(segs[0].path, "r+b");
    fseek(f, WAL_HEADER_BYTES + (long)b[0]->len + WAL_RECORD_HEADER + 40, SEEK_SET);
    fputc('X', f);
    fclose(f);
    sb_reset(&out);
    assert_int_equal(run_capture(cmd, &out), 1);
    assert_contains(out.buf, segs[0].path);
    assert_contains(out.buf, "checksum mismatch");
    assert_contains(out.buf, "1 problem");
    sb_reset(&out);
    snprintf(cmd, sizeof cmd, "%s wal dump %s 2>&1", bin, dir);
    assert_int_equal(run_capture(cmd, &out), 1);
    assert_contains(out.buf, "payment 0");
    assert_null(strstr(out.buf, "payment 1")); /* never served */
    assert_contains(out.buf, "corrupt WAL data skipped");
    snprintf(cmd, sizeof cmd, "%s wal check %s/nope 2>&1", bin, dir);
    sb_reset(&out);
    assert_int_equal(run_capture(cmd, &out), 2);
    assert_contains(out.buf, "is not a directory");
    sb_free(&out);
    free(segs);
    for (int i = 0; i < 3; i++)
        batch_unref(b[i]);
    free(a.seqs);
    rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_chains_and_matches_the_standard),
        cmocka_unit_test(test_concurrent_appends_read_back_exactly),
        cmocka_unit_test(test_torn_tail_is_truncated_and_reported),
        cmocka_unit_test(test_flipped_byte_is_detected_never_served),
        cmocka_unit_test(test_consumed_segments_are_deleted),
        cmocka_unit_test(test_sigkill_never_loses_an_acknowledged_record),
        cmocka_unit_test(test_cli_dump_and_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
