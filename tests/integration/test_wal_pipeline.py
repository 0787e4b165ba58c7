"""Pipelines with `buffer: wal`: events are acknowledged once durable in the
WAL; each output reads the WAL from its own checkpoint. A restart resumes
without replay, SIGKILL mid-delivery loses nothing, a stalled output holds
back neither ingestion nor the other outputs, consumed segments are deleted
and a removed output's checkpoint goes with it."""
import collections
import json
import os
import signal
import subprocess
import time
import unittest

from harness import BIN, Strata, count_lines, read_jsonl, wait_for

CFG = """
service: {http_listen: "127.0.0.1:{PORT}", data_dir: "{DIR}/data", grace: 10s}
pipelines:
  - name: p
    buffer: {type: wal, segment_bytes: SEG}
    inputs:
INPUTS
    outputs:
OUTPUTS
"""


def cfg(inputs, outputs, seg="64MiB"):
    return CFG.replace("INPUTS", inputs).replace("OUTPUTS", outputs).replace("SEG", seg)


DUMMY = "      - {plugin: dummy, name: gen, rate: 0, total: TOTAL, batch_size: 1000}"
NO_INPUT = "      - {plugin: stdin, name: gen}"  # stdin is /dev/null: no new events
FILE_OUT = '      - {plugin: file, name: out, path: "{DIR}/out.jsonl"}'


class WalPipelineTest(unittest.TestCase):
    def start(self, text):
        s = Strata(text, name=self.id().split(".")[-1])
        self.addCleanup(s.cleanup)
        return s.wait_ready()

    def rerun(self, s, text):
        """Run again with the same data dir (a new process)."""
        t = Strata(text.replace("{DIR}", s.dir), name=self.id().split(".")[-1] + "-2")
        self.addCleanup(t.cleanup)
        return t.wait_ready()

    def test_acked_events_survive_restart_without_replay(self):
        s = self.start(cfg(DUMMY.replace("TOTAL", "50000"), FILE_OUT))
        wait_for(lambda: count_lines(s.path("out.jsonl")) >= 50000, what="first run")
        self.assertEqual(s.counter("strata_wal_records_total", pipeline="p"), 50)
        # the WAL is readable by operators while it runs
        wal_dir = os.path.join(s.dir, "data/wal/p")
        r = subprocess.run([BIN, "wal", "check", wal_dir], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("50 records, 0 problems", r.stdout)
        dump = subprocess.run([BIN, "wal", "dump", wal_dir, "--from", "50"],
                              capture_output=True, text=True).stdout.splitlines()
        self.assertEqual(len(dump), 1000)
        self.assertIn('"seq":50,"event":{', dump[0])
        self.assertEqual(s.stop(), 0)
        ckpt = os.path.join(wal_dir, "checkpoints/out")
        self.assertTrue(os.path.exists(ckpt))
        # every output consumed everything: a clean stop leaves no WAL bytes
        # but one empty segment that starts where the next record goes
        segs = sorted(f for f in os.listdir(wal_dir) if f.endswith(".wal"))
        self.assertEqual(segs, ["%020d.wal" % 51], segs)
        self.assertEqual(os.path.getsize(os.path.join(wal_dir, segs[0])), 32)
        self.assertIn("removed", s.logs())
        r = subprocess.run([BIN, "wal", "check", wal_dir], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("0 records, 0 problems", r.stdout)
        # a second run continues from the checkpoint: nothing delivered twice
        t = self.rerun(s, cfg(DUMMY.replace("TOTAL", "20000"), FILE_OUT))
        wait_for(lambda: count_lines(s.path("out.jsonl")) >= 70000, what="second run")
        time.sleep(0.5)
        self.assertEqual(t.counter("strata_wal_records_total", pipeline="p"), 20)
        self.assertEqual(t.stop(), 0)
        self.assertEqual(count_lines(s.path("out.jsonl")), 70000)
        seqs = [json.loads(l)["seq"] for l in subprocess.run(
            [BIN, "wal", "dump", wal_dir, "--from", "1"], capture_output=True,
            text=True).stdout.splitlines()]
        self.assertEqual(seqs, [], "the second clean stop retired the WAL too")

    def test_wal_kept_while_an_output_has_not_consumed_it(self):
        """An output that has not consumed every record (it refuses them all)
        keeps the WAL through a clean stop; the next run delivers them."""
        outputs = FILE_OUT + ("\n      - {plugin: flaky, name: stuck, always_fail: true,"
                              " retry_limit: 1000000}")
        text = cfg(DUMMY.replace("TOTAL", "3000"), outputs).replace(
            "grace: 10s}", 'grace: 1s, plugins_dir: "{TEST_PLUGINS}"}')
        s = self.start(text)
        wait_for(lambda: count_lines(s.path("out.jsonl")) >= 3000, what="delivery to file")
        self.assertEqual(s.stop(), 0)
        wal_dir = os.path.join(s.dir, "data/wal/p")
        r = subprocess.run([BIN, "wal", "check", wal_dir], capture_output=True, text=True)
        self.assertIn("3 records, 0 problems", r.stdout)

    def test_file_output_cuts_a_line_torn_by_a_crash(self):
        # a SIGKILL can stop the kernel part way through a batch's write():
        # the next start must not append after half a line
        s = self.start(cfg(DUMMY.replace("TOTAL", "5000"), FILE_OUT))
        wait_for(lambda: count_lines(s.path("out.jsonl")) >= 5000, what="first run")
        self.assertEqual(s.stop(), 0)
        with open(s.path("out.jsonl"), "a") as f:
            f.write('{"ts":"2025-01-01T00:00:00Z","msg":"torn')
        t = self.rerun(s, cfg(DUMMY.replace("TOTAL", "2000"), FILE_OUT))
        wait_for(lambda: count_lines(s.path("out.jsonl")) >= 7000, what="second run")
        self.assertEqual(t.stop(), 0)
        rows = read_jsonl(s.path("out.jsonl"))  # every line parses
        self.assertEqual(len(rows), 7000)
        self.assertIn("a line cut short", t.logs())

    def test_sigkill_mid_delivery_then_restart_loses_nothing(self):
        total = 400000
        s = self.start(cfg(DUMMY.replace("TOTAL", str(total)), FILE_OUT))
        # everything is durable quickly; the file output is slower
        wait_for(lambda: s.counter("strata_wal_records_total", pipeline="p") == total // 1000,
                 what="all batches durable")
        delivered = s.counter("strata_events_out_total", instance="out")
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait()
        self.assertLess(delivered, total, "the kill should land mid-delivery; make total larger")
        # restart with no new input: the file output catches up from its checkpoint
        t = self.rerun(s, cfg(NO_INPUT, FILE_OUT))
        wait_for(lambda: (t.counter("strata_events_out_total", instance="out") or 0) > 0 and
                 t.counter("strata_wal_consumer_lag_records", instance="out") == 0,
                 timeout=120, what="backlog delivered")
        self.assertEqual(t.stop(), 0)
        seqs = [e["meta"]["seq"] for e in read_jsonl(s.path("out.jsonl"))]
        self.assertEqual(set(seqs), set(range(total)))  # none lost
        # at-least-once to outputs: what repeats is one contiguous run, from
        # the last durable checkpoint to where the kill landed, each once
        counts = collections.Counter(seqs)
        dups = sorted(q for q, c in counts.items() if c > 1)
        self.assertTrue(all(c <= 2 for c in counts.values()))
        if dups:
            self.assertEqual(dups, list(range(dups[0], dups[-1] + 1)))

    def test_stalled_output_holds_back_neither_ingest_nor_other_outputs(self):
        s = self.start(cfg(DUMMY.replace("TOTAL", "30000"),
                           FILE_OUT + "\n      - {plugin: null, name: stuck, delay: 30s}"))
        wait_for(lambda: count_lines(s.path("out.jsonl")) >= 30000, what="fast output done")
        self.assertEqual(s.counter("strata_events_out_total", instance="gen"), 30000)
        self.assertEqual(s.counter("strata_input_paused", instance="gen"), 0)
        lag = s.counter("strata_wal_consumer_lag_records", instance="stuck")
        self.assertGreaterEqual(lag, 28)  # 30 records durable, at most one in its flush
        s.proc.send_signal(signal.SIGKILL)  # the stuck flush would hold SIGTERM for 30 s
        s.proc.wait()

    def test_consumed_segments_are_deleted_and_removed_outputs_forgotten(self):
        outputs = FILE_OUT + '\n      - {plugin: null, name: extra}'
        s = self.start(cfg(DUMMY.replace("TOTAL", "100000"), outputs, seg="256KiB"))
        wait_for(lambda: count_lines(s.path("out.jsonl")) >= 100000, what="delivery")
        wait_for(lambda: s.counter("strata_wal_files", pipeline="p") <= 2, timeout=60,
                 what="consumed segments deleted")
        ckdir = os.path.join(s.dir, "data/wal/p/checkpoints")
        self.assertEqual(sorted(os.listdir(ckdir)), ["extra", "out"])
        s.write_config(cfg(DUMMY.replace("TOTAL", "100000"), FILE_OUT, seg="256KiB"))
        status, body, _ = s.request("POST", "/v1/admin/reload")
        self.assertEqual(status, 200, body)
        wait_for(lambda: sorted(os.listdir(ckdir)) == ["out"], timeout=60,
                 what="checkpoint of the removed output dropped")
        self.assertEqual(s.stop(), 0)


if __name__ == "__main__":
    unittest.main()
