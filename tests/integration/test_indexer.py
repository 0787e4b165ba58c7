"""The indexer output against the real binary: events ingested over HTTP end
up in segments exactly once, across clean restarts, SIGKILL at the crash
points of a flush and of a compaction, and SIGKILL at random moments; the
compactor moves closed windows up to L3; no orphan file survives a restart.
Segments are read back with `strata inspect`, which is what a user runs."""
import glob
import json
import os
import random
import signal
import subprocess
import threading
import time
import unittest

from harness import BIN, SLOW, Strata, wait_for

CFG = """
service: {http_listen: "127.0.0.1:{PORT}", data_dir: "{DIR}/data", grace: 10s}
pipelines:
  - name: ingest
    buffer: {type: wal, segment_bytes: 1MiB}
    inputs:
      - {plugin: http}
    outputs:
      - {plugin: indexer, name: index, flush_interval: FLUSH, compaction: COMPACT,
         l1_window: 1s, l2_window: 2s, l3_window: 4s}
"""


def cfg(flush="300ms", compact="true"):
    return CFG.replace("FLUSH", flush).replace("COMPACT", compact)


def index_dir(s):
    return os.path.join(s.dir, "data", "index")


def segment_files(s):
    return sorted(glob.glob(os.path.join(index_dir(s), "segments", "*", "L*", "*.sseg")))


def stored_msgs(s):
    """Every msg in every segment file on disk (orphans included: there must be
    none). While strata runs, compaction may delete a file between listing and
    reading it: then the listing is taken again."""
    for _ in range(20):
        msgs, vanished = [], False
        for f in segment_files(s):
            out = subprocess.run([BIN, "inspect", "segment", f, "--rows", "100000000"],
                                 capture_output=True, text=True)
            if out.returncode != 0 and not os.path.exists(f):
                vanished = True
                break
            assert out.returncode == 0, out.stderr
            lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
            msgs += [json.loads(l)["msg"] for l in lines]
        if not vanished:
            return msgs
        time.sleep(0.05)
    raise AssertionError("segment files keep vanishing while being read")


# the segment format version the binary writes (segment/format.h)
SEGMENT_FORMAT = 17


def inspect_json(path):
    """`strata inspect segment PATH --json`, parsed."""
    return json.loads(subprocess.run([BIN, "inspect", "segment", path, "--json"],
                                     capture_output=True, text=True, check=True).stdout)


def inspect_levels(s):
    out = subprocess.run([BIN, "inspect", index_dir(s)], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    levels = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 4 and parts[1].startswith("L"):
            levels[parts[1]] = levels.get(parts[1], 0) + int(parts[3])
    return levels


def post(s, msgs, service="svc"):
    body = json.dumps({"source": {"service": service, "host": "h1"},
                       "logs": [{"msg": m, "level": "INFO"} for m in msgs]}).encode()
    st, text, _ = s.request("POST", "/v1/ingest", body=body, timeout=30)
    return st


def indexed(s):
    return s.counter("strata_indexer_events_total", instance="index") or 0


class IndexerTest(unittest.TestCase):
    def start(self, text, env=None, dir=None, name=None):
        s = Strata(text, name=name or self.id().split(".")[-1], env=env, dir=dir)
        self.addCleanup(s.cleanup)
        return s.wait_ready()

    def assert_exactly(self, s, want):
        got = stored_msgs(s)
        self.assertEqual(len(got), len(set(got)), "a message is stored twice")
        self.assertEqual(set(got), set(want))

    def test_events_become_segments_exactly_once_across_restarts(self):
        s = self.start(cfg(compact="false"))
        sent = []
        for b in range(10):
            msgs = [f"b{b}-e{k} connection timeout user_{k}" for k in range(300)]
            self.assertEqual(post(s, msgs, service=f"svc{b % 3}"), 202)
            sent += msgs
        wait_for(lambda: indexed(s) == len(sent), what="all events sealed")
        # the WAL is released once the segments are registered
        wait_for(lambda: s.counter("strata_wal_consumer_lag_records", instance="index") == 0)
        self.assertGreaterEqual(len(segment_files(s)), 1)
        self.assertEqual(s.stop(), 0)
        self.assert_exactly(s, sent)
        # a restart replays nothing twice, and new events join
        s2 = self.start(cfg(compact="false"), dir=s.dir)
        more = [f"after-restart-{k}" for k in range(100)]
        self.assertEqual(post(s2, more), 202)
        wait_for(lambda: indexed(s2) == 100, what="new events sealed")
        self.assertEqual(s2.stop(), 0)
        self.assert_exactly(s2, sent + more)
        self.assertEqual(inspect_levels(s2), {"L0": len(sent) + 100})

    def test_heads_built_by_reused_writers_hold_only_their_own_events(self):
        # each round is sealed before the next is sent, so every head after
        # the first is built by a writer kept from an earlier one (emptied,
        # its memory kept): a segment must hold its round's rows and terms
        # and nothing of the rounds before, whatever their sizes
        s = self.start(cfg(compact="false"))
        sizes = [800, 40, 1000, 3]
        sent = []
        for r, n in enumerate(sizes):
            msgs = [f"round{r} item{r}x{k} shared words" for k in range(n)]
            self.assertEqual(post(s, msgs, service=f"svc{r}"), 202)
            sent += msgs
            wait_for(lambda: indexed(s) == len(sent), what=f"round {r} sealed")
        self.assertEqual(s.stop(), 0)
        self.assert_exactly(s, sent)
        files = segment_files(s)
        self.assertGreaterEqual(len(files), len(sizes))
        for f in files:
            rows = subprocess.run([BIN, "inspect", "segment", f, "--rows", "100000"],
                                  capture_output=True, text=True, check=True).stdout
            rounds = {json.loads(l)["msg"].split()[0] for l in rows.splitlines()
                      if l.startswith("{")}
            self.assertEqual(len(rounds), 1, f"{f} mixes rounds {rounds}")
            r = int(rounds.pop()[len("round"):])
            terms = subprocess.run([BIN, "inspect", "segment", f, "--terms", "msg:round"],
                                   capture_output=True, text=True, check=True).stdout
            found = {l.split()[-1] for l in terms.splitlines() if "msg:round" in l}
            self.assertEqual(found, {f"msg:round{r}"}, f)
            svc = subprocess.run([BIN, "inspect", "segment", f, "--terms", "service:"],
                                 capture_output=True, text=True, check=True).stdout
            self.assertIn(f" service:svc{r}\n", svc)
            self.assertEqual(svc.count(" service:svc"), 1, svc)

    def test_settings_reload_in_place_and_one_indexer_per_directory(self):
        s = self.start(cfg(flush="5s", compact="false"))
        self.assertEqual(post(s, ["before reload"]), 202)
        # delivered to the head, not yet committed: the WAL keeps its record
        # and /metrics says so (consumer lag alone stays 0)
        wait_for(lambda: s.counter("strata_wal_uncommitted_records", instance="index") == 1,
                 timeout=10, what="one uncommitted WAL record")
        self.assertEqual(s.counter("strata_wal_consumer_lag_records", instance="index"), 0)
        # a shorter flush interval applies in place, to the head already held
        s.write_config(cfg(flush="200ms", compact="false"))
        st, text, _ = s.request("POST", "/v1/admin/reload")
        self.assertEqual(st, 200, text)
        wait_for(lambda: indexed(s) == 1, timeout=10, what="sealed after the reload")
        wait_for(lambda: s.counter("strata_wal_uncommitted_records", instance="index") == 0,
                 timeout=10, what="the sealed record committed")
        # a second indexer on the same directory is refused; the first keeps going
        second = cfg(flush="200ms", compact="false") + (
            "  - name: other\n    inputs:\n      - {plugin: dummy, rate: 10}\n"
            "    outputs:\n      - {plugin: indexer, name: index2}\n")
        s.write_config(second)
        st, text, _ = s.request("POST", "/v1/admin/reload")
        self.assertEqual(st, 400, text)
        self.assertIn("in use by another indexer", text)
        self.assertEqual(post(s, ["after refused reload"]), 202)
        wait_for(lambda: indexed(s) == 2, timeout=10)
        self.assertEqual(s.stop(), 0)
        self.assert_exactly(s, ["before reload", "after refused reload"])

    def test_segments_answer_term_lookups(self):
        s = self.start(cfg(compact="false"))
        self.assertEqual(post(s, ["payment declined for u_98765 at 10.0.3.42",
                                  "NullPointerException in CartService"]), 202)
        wait_for(lambda: indexed(s) == 2)
        self.assertEqual(s.stop(), 0)
        f = segment_files(s)[0]
        out = subprocess.run([BIN, "inspect", "segment", f, "--terms", "msg:"],
                             capture_output=True, text=True).stdout
        for term in ["msg:u_98765", "msg:10.0.3.42", "msg:nullpointerexception", "msg:pointer",
                     "msg:cartservice", "msg:declined"]:
            self.assertIn(" " + term + "\n", out)

    def test_words_of_a_template_are_stored_as_templates(self):
        """The words of a message template's fixed text (here "received",
        "block", "size") are stored as that template's rows (segment format
        8: `strata inspect` counts the templates) and still list every
        event; words of some of a template's rows ("7abc") keep theirs."""
        s = self.start(cfg(compact="false"))
        msgs = [f"Received block blk_{i * 7919} of size {i * 31}" for i in range(40)]
        msgs += [f"login {'7abc' if i % 2 else '7xyz'} done" for i in range(40)]
        self.assertEqual(post(s, msgs), 202)
        wait_for(lambda: indexed(s) == 80)
        self.assertEqual(s.stop(), 0)
        f = segment_files(s)[0]
        info = inspect_json(f)
        self.assertEqual(info["version"], SEGMENT_FORMAT)
        self.assertEqual(info["templates"], 2)
        out = subprocess.run([BIN, "inspect", "segment", f, "--terms", "msg:"],
                             capture_output=True, text=True).stdout
        df = {line.split()[1]: int(line.split()[0]) for line in out.splitlines()
              if len(line.split()) == 2 and line.split()[0].isdigit()}
        for term, n in [("msg:received", 40), ("msg:block", 40), ("msg:size", 40),
                        ("msg:login", 40), ("msg:7abc", 20), ("msg:7xyz", 20)]:
            self.assertEqual(df.get(term), n, term)
        self.assertEqual(sorted(stored_msgs(s)), sorted(msgs))

    def test_frequent_meta_keys_become_columns(self):
        """A sealed segment keeps frequent meta keys as typed columns (shown
        by `strata inspect`; hex ids such as trace ids and single-token
        values such as regions hold their own terms) and gives every
        event's meta back as sent."""
        s = self.start(cfg(compact="false"))
        logs = [{"msg": f"m{i}", "level": "INFO",
                 "meta": {"latency_ms": i * 7 - 50, "region": ["eu", "us"][i % 2],
                          "trace": f"{i * 2654435761 % 2**32:08x}", "n": None}}
                for i in range(64)]
        body = json.dumps({"source": {"service": "svc", "host": "h1"}, "logs": logs}).encode()
        st, text, _ = s.request("POST", "/v1/ingest", body=body, timeout=30)
        self.assertEqual(st, 202, text)
        wait_for(lambda: indexed(s) == 64)
        self.assertEqual(s.stop(), 0)
        f = segment_files(s)[0]
        info = inspect_json(f)
        self.assertEqual(info["version"], SEGMENT_FORMAT)
        self.assertEqual({c["key"]: (c["kind"], c["rows"]) for c in info["meta_columns"]},
                         {"latency_ms": ("numbers", 64), "region": ("dictionary of terms", 64),
                          "trace": ("hex ids", 64)})
        out = subprocess.run([BIN, "inspect", "segment", f, "--rows", "100"],
                             capture_output=True, text=True).stdout
        got = {json.loads(line)["msg"]: json.loads(line)["meta"] for line in out.splitlines()
               if line.startswith("{")}
        self.assertEqual(got, {lg["msg"]: lg["meta"] for lg in logs})
        self.assertEqual([list(m) for m in got.values()],
                         [["latency_ms", "region", "trace", "n"]] * 64)  # key order kept

    def crash_and_recover(self, point, compact):
        """Ingest until the indexer kills itself at `point`, restart without
        the crash point, and check every acknowledged event is stored once.
        A batch made durable just before the kill may be stored although its
        202 never reached the client (the client would retry it): stored
        events must lie between the acknowledged and the attempted ones."""
        text = cfg(compact=compact)
        s = self.start(text, env={"STRATA_INDEXER_CRASH": point}, name=point)
        acked, attempted = [], []
        for b in range(6):
            if s.proc.poll() is not None:
                break
            msgs = [f"{point}-b{b}-e{k}" for k in range(200)]
            attempted += msgs
            try:
                if post(s, msgs) == 202:
                    acked += msgs
            except OSError:
                break
            time.sleep(0.2)
        s.proc.wait(timeout=60 * SLOW)
        self.assertEqual(s.proc.returncode, -signal.SIGKILL, s.logs())
        self.assertIn("crash point " + point, s.logs())
        s2 = self.start(text, dir=s.dir, name=point + "-2")
        wait_for(lambda: len(stored_msgs(s2)) >= len(acked), timeout=60,
                 what="acknowledged events back in segments")
        if compact == "true":
            wait_for(lambda: set(inspect_levels(s2)) == {"L3"}, timeout=60,
                     what="every window compacted to L3")
        self.assertEqual(s2.stop(), 0)
        got = stored_msgs(s2)
        self.assertEqual(len(got), len(set(got)), "a message is stored twice")
        self.assertEqual(set(acked) - set(got), set(), "acknowledged events lost")
        self.assertEqual(set(got) - set(attempted), set(), "events nobody sent")
        left = [os.path.join(d, f) for d, _, fs in os.walk(s.dir) for f in fs
                if f.endswith(".tmp")]
        self.assertEqual(left, [], "temporary files left after recovery")

    def test_sigkill_after_segment_written_before_registered(self):
        self.crash_and_recover("flush_after_write", "false")

    def test_sigkill_after_registered_before_wal_commit(self):
        self.crash_and_recover("flush_after_commit", "false")

    def test_sigkill_in_the_middle_of_a_merge(self):
        # the merged file is half-written (PATH.tmp, spools unlinked)
        self.crash_and_recover("compact_during_merge", "true")

    def test_sigkill_during_compaction_before_swap(self):
        self.crash_and_recover("compact_after_write", "true")

    def test_sigkill_during_compaction_after_swap(self):
        self.crash_and_recover("compact_after_swap", "true")

    def test_compaction_reaches_l3_with_counts_exact(self):
        s = self.start(cfg())
        sent = []
        for b in range(8):
            msgs = [f"c{b}-e{k} disk full on /dev/sda{k % 4}" for k in range(250)]
            self.assertEqual(post(s, msgs), 202)
            sent += msgs
            time.sleep(0.25)
        wait_for(lambda: set(inspect_levels(s)) == {"L3"}, timeout=60, what="all at L3")
        self.assertEqual(sum(inspect_levels(s).values()), len(sent))
        self.assertGreater(s.counter("strata_indexer_compactions_total", level="3") or 0, 0)
        self.assertEqual(s.stop(), 0)
        self.assert_exactly(s, sent)

    def test_random_sigkill_under_load(self):
        rng = random.Random(int(os.environ.get("STRATA_CRASH_SEED", time.time())))
        acked, lock = set(), threading.Lock()
        d = None
        for rnd in range(3):
            s = self.start(cfg(flush="200ms"), dir=d, name=f"rk{rnd}")
            d = s.dir
            stop = threading.Event()

            def client(cid):
                n = 0
                while not stop.is_set():
                    msgs = [f"r{rnd}-c{cid}-b{n}-e{k}" for k in range(50)]
                    n += 1
                    try:
                        if post(s, msgs) == 202:
                            with lock:
                                acked.update(msgs)
                    except OSError:
                        return

            threads = [threading.Thread(target=client, args=(c,)) for c in range(4)]
            for t in threads:
                t.start()
            time.sleep(rng.uniform(0.5, 2.5) * SLOW)
            s.proc.send_signal(signal.SIGKILL)
            s.proc.wait()
            stop.set()
            for t in threads:
                t.join()
        s = self.start(cfg(flush="200ms"), dir=d, name="rk-final")
        wait_for(lambda: len(stored_msgs(s)) >= len(acked), timeout=60,
                 what="every acknowledged event in a segment")
        self.assertEqual(s.stop(), 0)
        got = stored_msgs(s)
        self.assertEqual(len(got), len(set(got)), "duplicates after random SIGKILLs")
        self.assertEqual(acked - set(got), set(), "acknowledged events lost")
        self.assertGreater(len(acked), 500)


if __name__ == "__main__":
    unittest.main()
