"""The real binary moving events: dummy -> modify -> file delivers exactly
the generated events; stdin -> stdout; grep filters; SIGTERM drains."""
import os
import re
import subprocess
import time
import unittest

from harness import VALGRIND, Strata, count_lines, read_jsonl, wait_for


class PipelineTest(unittest.TestCase):
    def start(self, cfg, **kw):
        s = Strata(cfg, name=self.id().split(".")[-1], **kw)
        self.addCleanup(s.cleanup)
        return s

    def test_dummy_modify_file_delivers_exactly_the_generated_events(self):
        s = self.start("""
service: {http_listen: "127.0.0.1:{PORT}", data_dir: "{DIR}/data"}
pipelines:
  - name: p
    inputs:
      - plugin: dummy
        rate: 0
        total: 20000
        batch_size: 700
        service: checkout
        message: "order {seq} placed"
        meta: {region: eu}
    filters:
      - plugin: modify
        add: {environment: test}
        set: {host: web-1, level: WARN}
        rename: {region: zone}
    outputs:
      - plugin: file
        path: "{DIR}/out.jsonl"
""").wait_ready()
        out = s.path("out.jsonl")
        wait_for(lambda: count_lines(out) >= 20000, what="20000 lines")
        self.assertEqual(s.stop(), 0)
        events = read_jsonl(out)
        self.assertEqual(len(events), 20000)
        seqs = sorted(e["meta"]["seq"] for e in events)
        self.assertEqual(seqs, list(range(20000)))  # each exactly once
        e = events[123]
        self.assertEqual(e["msg"], f"order {e['meta']['seq']} placed")
        self.assertEqual(e["service"], "checkout")
        self.assertEqual(e["host"], "web-1")
        self.assertEqual(e["level"], "WARN")
        self.assertEqual(e["meta"]["environment"], "test")
        self.assertEqual(e["meta"]["zone"], "eu")
        self.assertNotIn("region", e["meta"])
        self.assertRegex(e["ts"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z$")

    def test_stdin_lines_become_events_on_stdout(self):
        lines = ["first line", "second \"quoted\" line", "tab\there", "ünïcödé ✓"]
        r, w = os.pipe()
        s = self.start("""
service: {http_listen: "127.0.0.1:{PORT}", data_dir: "{DIR}/data"}
pipelines:
  - name: p
    inputs:
      - plugin: stdin
        service: shell
    outputs:
      - plugin: stdout
""", stdin=r)
        os.close(r)
        s.wait_ready()
        os.write(w, ("\n".join(lines) + "\nno newline at end").encode())
        os.close(w)
        wait_for(lambda: count_lines(s.stdout_path) >= 5, what="5 stdout lines")
        self.assertEqual(s.stop(), 0)
        events = read_jsonl(s.stdout_path)
        self.assertEqual([e["msg"] for e in events], lines + ["no newline at end"])
        self.assertTrue(all(e["service"] == "shell" for e in events))

    def test_grep_keeps_and_drops_by_regex(self):
        s = self.start("""
service: {http_listen: "127.0.0.1:{PORT}", data_dir: "{DIR}/data"}
pipelines:
  - name: p
    inputs:
      - {plugin: dummy, rate: 0, total: 1000, message: "request {seq} done"}
    filters:
      - {plugin: grep, regex: "request \\\\d*7 ", exclude: false}
      - {plugin: grep, field: meta.seq, regex: "^1", exclude: true}
    outputs:
      - {plugin: file, path: "{DIR}/kept.jsonl"}
""").wait_ready()
        # seqs ending in 7 and not starting with 1
        expected = [i for i in range(1000) if str(i).endswith("7") and not str(i).startswith("1")]
        wait_for(lambda: count_lines(s.path("kept.jsonl")) >= len(expected), what="kept events")
        wait_for(lambda: s.counter("strata_events_in_total", kind="input") == 1000)
        self.assertEqual(s.stop(), 0)
        got = [e["meta"]["seq"] for e in read_jsonl(s.path("kept.jsonl"))]
        self.assertEqual(got, expected)

    def test_stalled_output_keeps_memory_bounded(self):
        # an output that takes 30 s per batch: the classic "output stalls,
        # agent grows to many GiB" case. The input must pause instead.
        s = self.start("""
service: {http_listen: "127.0.0.1:{PORT}", data_dir: "{DIR}/data", grace: 1s}
pipelines:
  - name: p
    inputs:
      - {plugin: dummy, name: gen, rate: 0, batch_size: 1000, message: "MSG {seq}"}
    outputs:
      - {plugin: null, name: stuck, delay: 30s, queue_max_bytes: 4MiB, queue_max_events: 1000000}
""".replace("MSG", "x" * 200)).wait_ready()
        wait_for(lambda: s.counter("strata_input_paused", instance="gen") == 1, what="input paused")
        time.sleep(2)
        queued = s.counter("strata_queue_bytes", instance="stuck")
        self.assertLessEqual(queued, 4 * 2**20 + 300_000)  # bound + one batch
        with open(f"/proc/{s.proc.pid}/status") as f:
            rss_kb = int(next(l for l in f if l.startswith("VmRSS:")).split()[1])
        # without the bound dummy would have made gigabytes by now
        # (under valgrind the RSS is valgrind's own and says nothing)
        if not VALGRIND:
            self.assertLess(rss_kb, 64 * 1024)
        self.assertEqual(s.counter("strata_input_paused", instance="gen"), 1)
        # SIGTERM: the grace period (1 s) passes with the output still inside
        # its 30 s flush; shutdown gives up on it 2 s later instead of hanging,
        # says which output and why, and exits with status 1
        t0 = time.time()
        self.assertEqual(s.stop(), 1)
        self.assertLess(time.time() - t0, 15)
        logs = s.logs()
        self.assertIn("[p/output/stuck] flush still running", logs)
        self.assertIn("shutdown incomplete", logs)
        m = re.search(r"\[p/output/stuck\] final: in=(\d+) out=(\d+) dropped=(\d+)", logs)
        self.assertGreater(int(m.group(3)), 0)  # the queued batches were dropped, and counted

    def test_sigterm_drains_everything_in_flight(self):
        # the file output is slower than dummy at rate 0, so its queue is
        # full when SIGTERM arrives
        s = self.start("""
service: {http_listen: "127.0.0.1:{PORT}", data_dir: "{DIR}/data", grace: 30s}
pipelines:
  - name: p
    inputs:
      - {plugin: dummy, name: gen, rate: 0, batch_size: 100}
    outputs:
      - {plugin: file, name: out, path: "{DIR}/out.jsonl", queue_max_events: 50000}
""").wait_ready()
        wait_for(lambda: count_lines(s.path("out.jsonl")) > 1000, what="some output")
        self.assertEqual(s.stop(), 0)
        logs = s.logs()
        m = re.search(r"\[p/input/gen\] final: in=(\d+) out=(\d+) dropped=(\d+)", logs)
        self.assertIsNotNone(m, logs)
        emitted = int(m.group(2))
        o = re.search(r"\[p/output/out\] final: in=(\d+) out=(\d+) dropped=(\d+)", logs)
        self.assertEqual(int(o.group(3)), 0)
        self.assertEqual(int(o.group(2)), emitted)
        # what the input emitted before stopping is exactly what is in the file
        self.assertEqual(count_lines(s.path("out.jsonl")), emitted)
        self.assertIn("shutdown complete", logs)


if __name__ == "__main__":
    unittest.main()
