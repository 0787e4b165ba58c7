"""Hot reload against the real binary: under load a changed filter takes
effect with no event lost or duplicated; a bad config is refused with its
reason and the old pipeline keeps running; a new instance that fails to
start rolls the reload back; SIGHUP works like the HTTP endpoint."""
import json
import signal
import time
import unittest

import os
import subprocess
import tempfile

from harness import BIN, Strata, count_lines, read_jsonl, wait_for

BASE = """
service: {http_listen: "127.0.0.1:{PORT}", data_dir: "{DIR}/data", grace: 10s}
pipelines:
  - name: p
    inputs:
      - {plugin: dummy, name: gen, rate: 20000, total: TOTAL, batch_size: 200}
    filters:
FILTERS
    outputs:
      - {plugin: file, name: out, path: "{DIR}/out.jsonl"}
"""


def cfg(filters, total=60000):
    return BASE.replace("TOTAL", str(total)).replace("FILTERS", filters)


STAGE_ONE = "      - {plugin: modify, name: stamp, add: {stage: one}}"
STAGE_TWO = "      - {plugin: modify, name: stamp, add: {stage: two}}"
# a different plugin under the same name: the old instance is replaced
STAGE_THREE = "      - {plugin: modify, name: other, add: {stage: three}}"


class ReloadTest(unittest.TestCase):
    def start(self, text):
        s = Strata(text, name=self.id().split(".")[-1])
        self.addCleanup(s.cleanup)
        return s.wait_ready()

    def reload(self, s):
        status, body, _ = s.request("POST", "/v1/admin/reload")
        return status, json.loads(body)

    def test_reload_under_load_loses_and_duplicates_nothing(self):
        s = self.start(cfg(STAGE_ONE))
        out = s.path("out.jsonl")
        wait_for(lambda: count_lines(out) > 5000, what="first events")
        s.write_config(cfg(STAGE_TWO))  # reconfigured in place
        self.assertEqual(self.reload(s), (200, {"reloaded": True}))
        wait_for(lambda: count_lines(out) > 25000, what="events after reload 1")
        s.write_config(cfg(STAGE_THREE))  # a new instance; the old one retires
        s.signal(signal.SIGHUP)
        wait_for(lambda: s.counter("strata_reloads_total", result="ok") == 2, what="SIGHUP reload")
        wait_for(lambda: count_lines(out) >= 60000, timeout=60, what="all events")
        time.sleep(0.2)
        self.assertEqual(s.stop(), 0)
        events = read_jsonl(out)
        seqs = [e["meta"]["seq"] for e in events]
        self.assertEqual(len(seqs), 60000)
        self.assertEqual(sorted(seqs), list(range(60000)))  # none lost, none twice
        stages = [e["meta"]["stage"] for e in events]
        # each reload took effect, in order, and never went back
        first_two, first_three = stages.index("two"), stages.index("three")
        self.assertTrue(0 < first_two < first_three)
        self.assertEqual(set(stages[:first_two]), {"one"})
        self.assertEqual(set(stages[first_two:first_three]), {"two"})
        self.assertEqual(set(stages[first_three:]), {"three"})
        logs = s.logs()
        self.assertIn("reload applied: 0 new, 1 reconfigured", logs)
        self.assertIn("reload applied: 1 new, 0 reconfigured", logs)
        self.assertIn("[p/filter/stamp] retired", logs)

    def test_bad_reload_is_refused_and_old_pipeline_keeps_running(self):
        s = self.start(cfg(STAGE_ONE, total=0))
        wait_for(lambda: (s.counter("strata_events_out_total", instance="out") or 0) > 100)
        # a YAML syntax error
        s.write_config(cfg(STAGE_ONE, total=0) + "  - broken: [\n")
        status, body = self.reload(s)
        self.assertEqual(status, 400)
        self.assertFalse(body["reloaded"])
        self.assertIn("strata.yaml:", body["error"])
        self.assertIn("YAML syntax error", body["error"])
        # an unknown key, a wrong type and an unknown plugin, all at once
        s.write_config(cfg("      - {plugin: modify, colour: red}\n"
                           "      - {plugin: grep, regex: x, exclude: maybe}\n"
                           "      - {plugin: nosuchfilter}", total=0))
        status, body = self.reload(s)
        self.assertEqual(status, 400)
        for needle in ("unknown key 'colour'", "key 'exclude'", "must be a boolean",
                       "unknown filter plugin 'nosuchfilter'"):
            self.assertIn(needle, body["error"])
        # a bad regex is refused at validation (the grep plugin's rule), with
        # the file and line of the value
        s.write_config(cfg("      - {plugin: grep, name: g, regex: '(unclosed'}", total=0))
        status, body = self.reload(s)
        self.assertEqual(status, 400)
        self.assertIn("strata.yaml:8:", body["error"])
        self.assertIn("key 'regex' of filter 'g' (plugin grep) in pipeline 'p': not a valid "
                      "regex at offset 9", body["error"])
        # and through SIGHUP
        s.write_config("pipelines: [")
        s.signal(signal.SIGHUP)
        wait_for(lambda: s.counter("strata_reloads_total", result="failed") == 4)
        # the original pipeline is still producing, unchanged
        before = s.counter("strata_events_out_total", instance="out")
        wait_for(lambda: s.counter("strata_events_out_total", instance="out") > before + 1000,
                 what="events still flowing")
        self.assertEqual(s.counter("strata_reloads_total", result="ok"), 0)
        self.assertEqual(s.stop(), 0)
        self.assertEqual({e["meta"]["stage"] for e in read_jsonl(s.path("out.jsonl"))}, {"one"})

    def test_failed_start_restores_the_old_pipeline(self):
        s = self.start(cfg(STAGE_ONE, total=0))
        wait_for(lambda: (s.counter("strata_events_out_total", instance="out") or 0) > 100)
        text = cfg(STAGE_TWO, total=0)
        text = text.replace('data_dir: "{DIR}/data"', 'data_dir: "{DIR}/data", plugins_dir: "{TEST_PLUGINS}"')
        text += "  - name: extra\n    inputs:\n      - {plugin: failstart}\n" \
                "    outputs:\n      - {plugin: null}\n"
        s.write_config(text)
        status, body = self.reload(s)
        self.assertEqual(status, 400)
        self.assertIn("extra/input/failstart: start failed", body["error"])
        # the reconfigure of 'stamp' was not applied: still stage one
        n = count_lines(s.path("out.jsonl"))
        wait_for(lambda: count_lines(s.path("out.jsonl")) > n + 2000)
        self.assertEqual(s.stop(), 0)
        self.assertEqual({e["meta"]["stage"] for e in read_jsonl(s.path("out.jsonl"))}, {"one"})

    def test_reload_adds_and_removes_pipelines(self):
        s = self.start(cfg(STAGE_ONE, total=0))
        extra = "  - name: second\n    inputs:\n      - {plugin: dummy, rate: 1000}\n" \
                "    outputs:\n      - {plugin: file, name: out2, path: \"{DIR}/second.jsonl\"}\n"
        s.write_config(cfg(STAGE_ONE, total=0) + extra)
        self.assertEqual(self.reload(s)[0], 200)
        wait_for(lambda: count_lines(s.path("second.jsonl")) > 10, what="second pipeline")
        s.write_config(cfg(STAGE_ONE, total=0))
        self.assertEqual(self.reload(s)[0], 200)
        wait_for(lambda: s.counter("strata_events_out_total", instance="out2") is None,
                 what="second pipeline gone from /metrics")
        # a removed output first drains what was queued for it, then retires
        wait_for(lambda: "[second/output/out2] retired" in s.logs(), what="out2 retired")
        n = count_lines(s.path("second.jsonl"))
        time.sleep(0.3)
        self.assertEqual(count_lines(s.path("second.jsonl")), n)  # it really stopped
        self.assertEqual(s.stop(), 0)



ADMIN_CFG = """
service: {http_listen: "127.0.0.1:{PORT}", data_dir: "{DIR}/data", admin_auth: true}
pipelines:
  - name: p
    inputs: [{plugin: dummy, rate: 10}]
    outputs: [{plugin: null}]
"""


class AdminAuthTest(unittest.TestCase):
    def test_reload_needs_the_admin_scope_when_admin_auth_is_on(self):
        d = tempfile.mkdtemp(prefix="strata-it-admin-auth-")
        data = os.path.join(d, "data")

        def key(*args):
            out = subprocess.run([BIN, "key", "add", "acme", "--kind", "user", "--data-dir", data]
                                 + list(args), capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            return out.stdout.strip().split()[-1]
        out = subprocess.run([BIN, "tenant", "add", "acme", "--data-dir", data],
                             capture_output=True, text=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        user, admin = key(), key("--scopes", "admin")
        s = Strata(ADMIN_CFG, name="admin-auth", dir=d)
        self.addCleanup(s.cleanup)
        s.wait_ready()
        st, body, hdrs = s.request("POST", "/v1/admin/reload")
        self.assertEqual(st, 401, body)
        self.assertEqual(hdrs.get("WWW-Authenticate"), "Bearer")
        self.assertIn("admin scope", json.loads(body)["error"])
        st, body, _ = s.request("POST", "/v1/admin/reload",
                                headers={"Authorization": "Bearer " + user})
        self.assertEqual(st, 403, body)
        st, body, _ = s.request("POST", "/v1/admin/reload",
                                headers={"Authorization": "Bearer " + admin})
        self.assertEqual((st, json.loads(body)), (200, {"reloaded": True}), body)
        self.assertEqual(s.stop(), 0)


if __name__ == "__main__":
    unittest.main()
