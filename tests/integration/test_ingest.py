"""POST /v1/ingest against the real binary with a WAL buffer: every encoding
and NDJSON, per-event errors, timestamps and skew, limits (size, bombs,
events, nesting), garbage and truncated bodies, backpressure; 202 only once
durable, and nothing already stored lost by a bad request."""
import collections
import gzip
import json
import shutil
import subprocess
import threading
import time
import unittest

from harness import Strata, count_lines, read_jsonl, wait_for

CFG = """
service: {http_listen: "127.0.0.1:{PORT}", data_dir: "{DIR}/data", http_max_body: 4MiB}
pipelines:
  - name: ingest
    buffer: wal
    inputs:
      - {plugin: http, max_body: 1MiB, max_decompressed: 2MiB, max_events: 50, max_msg_bytes: 1KiB,
         max_meta_keys: 8, max_depth: 6, max_value_bytes: 2KiB}
    outputs:
      - {plugin: file, name: out, path: "{DIR}/out.jsonl"}
"""

SOURCE = {"service": "payment-service", "host": "ip-10-0-3-42", "region": "us-east-1",
          "environment": "production"}
EVENT = {"ts": "2025-06-15T14:23:01.123Z", "level": "ERROR",
         "msg": "Failed to charge card ending 4242: CARD_DECLINED",
         "meta": {"trace_id": "abc-123-def", "user_id": "u_98765", "latency_ms": 342}}


def zstd_bytes(data):
    return subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True, check=True).stdout


class IngestTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Strata(CFG, name="ingest").wait_ready()
        cls.stored = 0

    @classmethod
    def tearDownClass(cls):
        rc = cls.s.stop()
        cls.s.cleanup()
        assert rc == 0, rc

    def post(self, body, ctype="application/json", enc=None):
        h = {"Content-Type": ctype}
        if enc:
            h["Content-Encoding"] = enc
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
        status, text, hdrs = self.s.request("POST", "/v1/ingest", body=body, headers=h)
        try:
            doc = json.loads(text)
        except ValueError:
            self.fail(f"response is not JSON: {text!r}")
        if status == 202:
            type(self).stored += doc["accepted"]
        return status, doc, hdrs

    def events(self):
        wait_for(lambda: count_lines(self.s.path("out.jsonl")) >= type(self).stored,
                 what=f"{type(self).stored} stored events")
        return read_jsonl(self.s.path("out.jsonl"))

    def test_brief_shape_is_accepted_and_stored(self):
        status, doc, _ = self.post({"source": SOURCE, "logs": [EVENT] * 3})
        self.assertEqual(status, 202)
        self.assertEqual(doc, {"accepted": 3, "failed": 0, "lag_hint": "normal"})
        e = [x for x in self.events() if x["msg"] == EVENT["msg"]][-1]
        self.assertEqual(e["service"], "payment-service")
        self.assertEqual(e["host"], "ip-10-0-3-42")
        self.assertEqual(e["level"], "ERROR")
        self.assertEqual(e["ts"], "2025-06-15T14:23:01.123Z")
        self.assertTrue(e["skew"])  # 2025 is more than 30 s away from now
        self.assertEqual(e["meta"]["latency_ms"], 342)
        self.assertEqual(e["meta"]["region"], "us-east-1")
        self.assertEqual(e["tenant"], "default")

    def test_every_encoding_and_ndjson(self):
        body = json.dumps({"source": SOURCE, "logs": [{"msg": "enc-gzip"}]}).encode()
        self.assertEqual(self.post(gzip.compress(body), enc="gzip")[0], 202)
        body = json.dumps({"source": SOURCE, "logs": [{"msg": "enc-zstd"}]}).encode()
        if shutil.which("zstd"):
            self.assertEqual(self.post(zstd_bytes(body), enc="zstd")[0], 202)
        body = json.dumps({"logs": [{"msg": "enc-identity"}]}).encode()
        self.assertEqual(self.post(body, enc="identity")[0], 202)
        nd = b'{"msg":"nd-1","service":"s1","host":"h1"}\n\n{"msg":"nd-2","level":"warn"}\n'
        status, doc, _ = self.post(nd, ctype="application/x-ndjson")
        self.assertEqual((status, doc["accepted"]), (202, 2))
        msgs = {e["msg"]: e for e in self.events()}
        for m in ("enc-gzip", "enc-identity", "nd-1", "nd-2"):
            self.assertIn(m, msgs)
        self.assertEqual(msgs["nd-1"]["service"], "s1")
        self.assertEqual(msgs["nd-2"]["level"], "WARN")

    def test_source_after_logs_with_escaped_strings(self):
        # "logs" before "source" is read twice (skipped, then parsed once the
        # source is known); long escaped strings in it once overflowed the
        # buffer they are unescaped into (found by fuzz_ingest_json)
        msg = "late \"source\"\n" + "é" * 150 + "-" * 400
        meta_val = "tab\t" + "x" * 100
        body = json.dumps({"logs": [{"msg": msg, "meta": {"k\\ey": meta_val}}],
                           "source": {"service": "late-svc"}}, ensure_ascii=False).encode()
        self.assertLess(len(body), 2 * len(msg.encode()))  # twice would not fit
        status, doc, _ = self.post(body)
        self.assertEqual((status, doc["accepted"]), (202, 1))
        e = [x for x in self.events() if x["msg"] == msg]
        self.assertEqual(len(e), 1)
        self.assertEqual(e[0]["service"], "late-svc")
        self.assertEqual(e[0]["meta"]["k\\ey"], meta_val)

    def test_bad_events_are_reported_good_ones_kept(self):
        reasons_seen = ("msg", "level", "timestamp", "meta")

        def by_reason():  # one family, labelled by tenant and reason
            return {r: self.s.counter("strata_ingest_rejected_events_total", tenant="default",
                                      reason=r) or 0
                    for r in reasons_seen}

        before = by_reason()
        logs = [{"msg": "good-1"}, {"level": "INFO"}, {"msg": "x", "level": "LOUD"},
                {"msg": "x", "ts": "yesterday"}, {"msg": "x", "meta": {"a": {"b": 1}}},
                {"msg": 42}, {"msg": "good-2", "ts": 1750000000123}]
        status, doc, _ = self.post({"logs": logs})
        self.assertEqual(status, 202)
        self.assertEqual((doc["accepted"], doc["failed"]), (2, 5))
        reasons = {e["index"]: e["reason"] for e in doc["errors"]}
        self.assertIn("msg is missing", reasons[1])
        self.assertIn("level 'LOUD'", reasons[2])
        self.assertIn("ts 'yesterday' is not RFC 3339", reasons[3])
        self.assertIn("meta.a is an object", reasons[4])
        self.assertIn("msg must be a string", reasons[5])
        good2 = [e for e in self.events() if e["msg"] == "good-2"][0]
        self.assertEqual(good2["ts"], "2025-06-15T15:06:40.123Z")  # epoch ms, exact
        # all bad: 400, nothing stored
        status, doc, _ = self.post({"logs": [{"level": "INFO"}]})
        self.assertEqual(status, 400)
        self.assertEqual(doc["failed"], 1)
        # /metrics counts refused events by reason
        after = by_reason()
        self.assertEqual({r: after[r] - before[r] for r in reasons_seen},
                         {"msg": 3, "level": 1, "timestamp": 1, "meta": 1})

    def test_timestamps_in_every_form(self):
        forms = {"rfc-z": "2025-06-15T14:23:01.5Z", "rfc-off": "2025-06-15T16:23:01.5+02:00",
                 "epoch-s": 1749997381.5, "epoch-ms": 1749997381500,
                 "epoch-us": 1749997381500000, "epoch-ns": 1749997381500000000}
        logs = [{"msg": f"ts-{k}", "ts": v} for k, v in forms.items()]
        self.assertEqual(self.post({"logs": logs})[1]["accepted"], 6)
        got = {e["msg"]: e["ts"] for e in self.events() if e["msg"].startswith("ts-")}
        self.assertEqual(set(got.values()), {"2025-06-15T14:23:01.500Z"}, got)

    def test_undecodable_bodies_get_400_with_the_reason(self):
        cases = [(b'{"logs":[{"msg":"x"]}', "invalid JSON at byte"),
                 (b'\xff\xfe garbage', "invalid JSON at byte 0"),
                 (b'{"logs":[{"msg":"unterminated', "unterminated string"),
                 (b'{"logs":[]} trailing', "text after the top-level object")]
        for body, why in cases:
            status, doc, _ = self.post(body)
            self.assertEqual(status, 400, body)
            self.assertIn(why, doc["error"])
        status, doc, _ = self.post(gzip.compress(b'{"logs":[{"msg":"x"}]}')[:-6], enc="gzip")
        self.assertEqual(status, 400)
        self.assertIn("gzip", doc["error"])
        if shutil.which("zstd"):
            status, doc, _ = self.post(zstd_bytes(b'{"logs":[{"msg":"x"}]}' * 50)[:20], enc="zstd")
            self.assertEqual(status, 400)
            self.assertIn("truncated zstd frame", doc["error"])
        status, doc, _ = self.post(b'{}', enc="brotli")
        self.assertEqual(status, 415)
        # invalid UTF-8 in a message is that event's problem
        status, doc, _ = self.post(b'{"logs":[{"msg":"ok"},{"msg":"bad \xc3\x28"}]}')
        self.assertEqual((status, doc["accepted"], doc["failed"]), (202, 1, 1))
        self.assertIn("not valid UTF-8", doc["errors"][0]["reason"])
        # a reason that quotes the client's bad bytes is still UTF-8 JSON:
        # each byte that is not UTF-8 comes back as \ufffd, never raw
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.s.port, timeout=10)
        c.request("POST", "/v1/ingest", body=b'{"logs":[{"msg":"x","level":"\xff\xfeloud"}]}',
                  headers={"Content-Type": "application/json"})
        raw = c.getresponse().read()
        c.close()
        doc = json.loads(raw.decode("utf-8"))  # strict: raw \xff would raise here
        self.assertIn("\ufffd\ufffdloud", doc["errors"][0]["reason"])

    def test_a_half_closed_client_gets_its_202(self):
        # the request, then shutdown(SHUT_WR): the batch is stored, so the
        # client must hear so, or a retry would store it twice
        import socket
        body = b'{"logs":[{"msg":"sent then half-closed"}]}'
        c = socket.create_connection(("127.0.0.1", self.s.port), timeout=10)
        try:
            c.sendall(b"POST /v1/ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % len(body) + body)
            c.shutdown(socket.SHUT_WR)
            data = b""
            while True:
                b = c.recv(65536)
                if not b:
                    break
                data += b
        finally:
            c.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 202"), data)
        self.assertIn(b'"accepted":1', data)
        type(self).stored += 1
        self.assertIn("sent then half-closed", [e["msg"] for e in self.events()])

    def test_limits_are_named(self):
        # a gzip bomb: 50 MB of zeros in ~50 KB; decompression stops at 2 MiB
        bomb = gzip.compress(b"0" * 50_000_000, 9)
        status, doc, _ = self.post(bomb, enc="gzip")
        self.assertEqual(status, 413)
        self.assertIn("max_decompressed", doc["error"])
        status, doc, _ = self.post({"logs": [{"msg": "x"}] * 51})
        self.assertEqual(status, 413)
        self.assertIn("max_events (50)", doc["error"])
        status, doc, _ = self.post(b"x" * (1_100_000))
        self.assertEqual(status, 413)
        self.assertIn("max_body", doc["error"])
        deep = {"logs": [{"msg": "x", "extra": [[[[[[[[1]]]]]]]]}]}
        status, doc, _ = self.post(deep)
        self.assertEqual(status, 400)
        self.assertIn("max_depth (6)", doc["error"])
        status, doc, _ = self.post({"logs": [{"msg": "y" * 2000}, {"msg": "ok",
                                             "meta": {f"k{i}": i for i in range(9)}}]})
        self.assertEqual(status, 400)
        reasons = " ".join(e["reason"] for e in doc["errors"])
        self.assertIn("max_msg_bytes (1024)", reasons)
        self.assertIn("max_meta_keys (8)", reasons)
        # meta values are bounded too, and numbers are ones comparisons can use
        status, doc, _ = self.post(
            b'{"logs":[{"msg":"big","meta":{"blob":"' + b"z" * 3000 + b'"}},'
            b'{"msg":"inf","meta":{"n":1e309}},'
            b'{"msg":"wide","meta":{"n":99999999999999999999}},'
            b'{"msg":"long","meta":{"n":0.' + b"1" * 100 + b'}},'
            b'{"msg":"fine","meta":{"n":-1.5e10,"i":9223372036854775807}}]}')
        self.assertEqual((status, doc["accepted"], doc["failed"]), (202, 1, 4), doc)
        by_index = {e["index"]: e["reason"] for e in doc["errors"]}
        self.assertIn("meta.blob is 3000 bytes, over max_value_bytes (2048)", by_index[0])
        for i in (1, 2, 3):
            self.assertIn("meta.n is a number out of range", by_index[i])

    def test_bad_requests_never_lose_what_was_stored(self):
        before = self.events()
        for body in (b"{", b"\x00" * 100, b'{"logs":[{"msg":"late-bad"]}'):
            self.post(body)
        status, _, _ = self.post({"logs": [{"msg": "after-bad"}]})
        self.assertEqual(status, 202)
        after = self.events()
        self.assertEqual(after[:len(before)], before)
        self.assertEqual(after[-1]["msg"], "after-bad")

    def test_metrics_by_tenant_reason_and_size(self):
        before = self.s.counter("strata_ingest_bytes_total", tenant="default") or 0
        body = json.dumps({"logs": [{"msg": "metric-test"}] * 10}).encode()
        self.assertEqual(self.post(body)[0], 202)
        self.post(b"{")                      # undecodable
        self.post(b"{}", enc="brotli")       # unsupported encoding
        self.assertEqual(self.s.counter("strata_ingest_bytes_total", tenant="default") - before,
                         len(body))
        self.assertGreaterEqual(self.s.counter("strata_ingest_refused_requests_total",
                                               reason="undecodable"), 1)
        self.assertGreaterEqual(self.s.counter("strata_ingest_refused_requests_total",
                                               reason="unsupported_encoding"), 1)
        self.assertGreaterEqual(self.s.counter("strata_ingest_batch_events_count"), 1)
        self.assertGreaterEqual(self.s.counter("strata_wal_commit_seconds_count", pipeline="ingest"), 1)
        self.assertGreaterEqual(self.s.counter("strata_wal_commit_seconds_bucket", pipeline="ingest",
                                               le="+Inf"), 1)

    def test_concurrent_clients_all_acknowledged_and_stored(self):
        results = []

        def client(n):
            for i in range(10):
                st, doc, _ = self.post({"source": SOURCE,
                                        "logs": [{"msg": f"cc-{n}-{i}-{k}"} for k in range(20)]})
                results.append((st, doc.get("accepted")))

        threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [(202, 20)] * 80)
        msgs = [e["msg"] for e in self.events() if e["msg"].startswith("cc-")]
        self.assertEqual(len(msgs), 1600)
        self.assertEqual(len(set(msgs)), 1600)
        self.assertGreaterEqual(self.s.counter("strata_ingest_events_total", tenant="default"), 1600)


class IngestBackpressureTest(unittest.TestCase):
    def test_full_pipeline_answers_429_with_retry_after(self):
        s = Strata("""
service: {http_listen: "127.0.0.1:{PORT}", data_dir: "{DIR}/data"}
pipelines:
  - name: slow
    inputs:
      - {plugin: http}
    outputs:
      - {plugin: null, name: stuck, delay: 5s, queue_max_events: 10}
""", name="ingest-bp").wait_ready()
        self.addCleanup(s.cleanup)
        statuses = []

        def client():
            st, text, hdrs = s.request("POST", "/v1/ingest",
                                       body=json.dumps({"logs": [{"msg": "m"}] * 20}).encode(),
                                       timeout=30)
            statuses.append((st, hdrs.get("Retry-After"), text))

        # the first batch fills the 10-event queue of a 5 s output; the rest
        # arrive while it is full
        threads = [threading.Thread(target=client) for _ in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        refused = [x for x in statuses if x[0] == 429]
        self.assertTrue(refused, statuses)
        self.assertEqual(refused[0][1], "1")
        self.assertIn("backpressure", json.loads(refused[0][2])["error"])
        statuses = [x[0] for x in statuses]
        self.assertIn(429, statuses)
        s.proc.kill()


if __name__ == "__main__":
    unittest.main()


LAGCFG = """
service: {http_listen: "127.0.0.1:{PORT}", data_dir: "{DIR}/data", grace: 2s}
pipelines:
  - name: ingest
    buffer: {type: wal, max_bytes: 4MiB, segment_bytes: 256KiB}
    inputs:
      - {plugin: http}
    outputs:
      - {plugin: null, name: stuck, delay: 1h}
"""


class LagHintTest(unittest.TestCase):
    def test_lag_hint_rises_with_the_wal_backlog(self):
        """An output that never finishes leaves the WAL filling up: lag_hint
        goes normal -> elevated (half full) -> critical (80%) before 503s."""
        s = Strata(LAGCFG, name="laghint").wait_ready()
        self.addCleanup(s.cleanup)
        hints = []
        pad = "x" * 1000
        for i in range(200):
            body = json.dumps({"logs": [{"msg": f"{i}-{k} {pad}"} for k in range(50)]}).encode()
            st, text, _ = s.request("POST", "/v1/ingest", body=body)
            if st != 202:
                break
            hints.append(json.loads(text)["lag_hint"])
            if hints[-1] == "critical":
                break
            time.sleep(0.1)  # the WAL's fill is refreshed every second
        self.assertEqual(hints[0], "normal")
        self.assertIn("elevated", hints)
        self.assertEqual(hints[-1], "critical", hints)
        self.assertLess(hints.index("elevated"), hints.index("critical"))


class QuotaTest(unittest.TestCase):
    def test_noisy_tenant_gets_429_others_are_untouched(self):
        s = Strata("""
service: {http_listen: "127.0.0.1:{PORT}", data_dir: "{DIR}/data"}
pipelines:
  - name: q
    inputs:
      - {plugin: http, name: a, tenant: noisy}
      - {plugin: http, name: b, tenant: quiet, path: /v1/ingest-b}
    filters:
      - {plugin: quota, events_per_second: 100, burst: 1s, tenants: {vip: 100000}}
    outputs:
      - {plugin: file, path: "{DIR}/out.jsonl"}
""", name="quota").wait_ready()
        self.addCleanup(s.cleanup)
        batch = json.dumps({"logs": [{"msg": "q"}] * 60}).encode()

        def post(path):
            st, text, hdrs = s.request("POST", path, body=batch)
            return st, json.loads(text), hdrs

        self.assertEqual(post("/v1/ingest")[0], 202)      # 100 tokens -> 40
        st, doc, hdrs = post("/v1/ingest")                 # 60 > 40: refused whole
        self.assertEqual(st, 429)
        self.assertEqual(hdrs.get("Retry-After"), "1")
        self.assertIn("tenant 'noisy' is over its ingest quota", doc["error"])
        self.assertEqual(post("/v1/ingest-b")[0], 202)    # another tenant's bucket
        time.sleep(0.8)                                    # refill 80 -> 120 capped at 100
        self.assertEqual(post("/v1/ingest")[0], 202)
        self.assertEqual(s.counter("strata_quota_rejected_events_total", tenant="noisy"), 60)
        self.assertEqual(s.counter("strata_input_paused", instance="a"), 0)  # never paused
        wait_for(lambda: count_lines(s.path("out.jsonl")) >= 180)
        tenants = collections.Counter(e["tenant"] for e in read_jsonl(s.path("out.jsonl")))
        self.assertEqual(tenants, {"noisy": 120, "quiet": 60})  # the refused batch left no trace
        self.assertEqual(s.stop(), 0)
