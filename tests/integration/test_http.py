"""The core HTTP server and its built-in routes, through real sockets:
health, readiness, Prometheus metrics (validated), plugin schemas,
404/405, keep-alive, pipelining, and refusal of oversized or malformed
requests without disturbing the pipeline."""
import json
import re
import shutil
import socket
import subprocess
import unittest

from harness import Strata, host_abi, wait_for

CFG = """
service: {http_listen: "127.0.0.1:{PORT}", data_dir: "{DIR}/data", http_max_body: 1KiB}
pipelines:
  - name: web
    inputs:
      - {plugin: dummy, name: gen, rate: 500, meta: {team: "a\\\\b\\"c"}}
    filters:
      - {plugin: modify, add: {x: "1"}}
    outputs:
      - {plugin: null, name: sink}
"""


# a plugin that tries to register the host's metric names and labels, fed
# by a grep filter that drops every event
RESERVED_CFG = """
service: {http_listen: "127.0.0.1:{PORT}", data_dir: "{DIR}/data", plugins_dir: "{TEST_PLUGINS}"}
pipelines:
  - name: abuse
    inputs:
      - {plugin: dummy, name: gen, rate: 500}
    filters:
      - {plugin: grep, name: none, regex: "^no event says this$"}
    outputs:
      - {plugin: metricsabuse, name: abuser}
"""


def raw(port, data, read_until_close=True, timeout=5):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        chunks = []
        while True:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if not b:
                break
            chunks.append(b)
            if not read_until_close:
                break
        return b"".join(chunks).decode("utf-8", "replace")
    finally:
        s.close()


class HttpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.s = Strata(CFG, name="http").wait_ready()

    @classmethod
    def tearDownClass(cls):
        rc = cls.s.stop()
        cls.s.cleanup()
        assert rc == 0, rc

    def test_health_and_ready(self):
        self.assertEqual(self.s.get("/health")[:2], (200, '{"status":"ok"}'))
        self.assertEqual(self.s.get("/ready")[0], 200)

    def test_metrics_are_valid_prometheus_text(self):
        wait_for(lambda: (self.s.counter("strata_events_out_total", instance="sink") or 0) > 0)
        m = self.s.metrics()  # parse_metrics raises on malformed lines
        names = {n for n, _ in m}
        for n in ("strata_events_in_total", "strata_events_out_total", "strata_events_dropped_total",
                  "strata_errors_total", "strata_queue_events", "strata_queue_bytes",
                  "strata_buffer_bytes", "strata_reloads_total", "strata_null_events_total"):
            self.assertIn(n, names)
        labels = dict(next(l for (n, l) in m if n == "strata_events_in_total"))
        self.assertEqual(set(labels), {"pipeline", "kind", "plugin", "instance"})
        promtool = shutil.which("promtool")
        if promtool:
            text = self.s.get("/metrics")[1]
            r = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                               capture_output=True)
            # 0: parses and passes promtool's lint (naming, units, HELP text)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_plugins_lists_schemas_and_instances(self):
        status, body, hdrs = self.s.get("/v1/plugins")
        self.assertEqual(status, 200)
        self.assertEqual(hdrs["Content-Type"], "application/json")
        doc = json.loads(body)
        self.assertEqual(doc["abi"], host_abi())
        dummy = next(p for p in doc["plugins"] if p["name"] == "dummy")
        self.assertEqual(dummy["kind"], "input")
        rate = next(k for k in dummy["config"] if k["key"] == "rate")
        self.assertEqual(rate["type"], "double")
        self.assertEqual(rate["default"], "10")
        self.assertIn({"pipeline": "web", "kind": "output", "plugin": "null", "name": "sink"},
                      doc["instances"])

    def test_unknown_route_and_wrong_method(self):
        status, body, _ = self.s.get("/nope")
        self.assertEqual(status, 404)
        self.assertIn("no such route", body)
        status, body, _ = self.s.request("DELETE", "/metrics")
        self.assertEqual(status, 405)

    def test_keepalive_serves_many_requests_on_one_connection(self):
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.s.port, timeout=5)
        for _ in range(50):
            c.request("GET", "/health")
            r = c.getresponse()
            self.assertEqual(r.status, 200)
            r.read()
        c.close()

    def test_pipelined_requests_answer_in_order(self):
        req = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n" \
              b"GET /ready HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        text = raw(self.s.port, req)
        statuses = re.findall(r"HTTP/1.1 (\d{3}) ", text)
        self.assertEqual(statuses, ["200", "404", "200"])

    def test_a_half_closed_client_gets_its_answers(self):
        # shutdown(SHUT_WR) after the requests: the client still reads, so
        # every request it sent is answered, then the server closes
        s = socket.create_connection(("127.0.0.1", self.s.port), timeout=5)
        try:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                      b"GET /v1/plugins HTTP/1.1\r\nHost: x\r\n\r\n")
            s.shutdown(socket.SHUT_WR)
            chunks = []
            while True:
                b = s.recv(65536)
                if not b:
                    break
                chunks.append(b)
        finally:
            s.close()
        text = b"".join(chunks).decode()
        self.assertEqual(re.findall(r"HTTP/1.1 (\d{3}) ", text), ["200", "200"], text)

    def test_oversized_body_is_refused_with_413(self):
        status, body, _ = self.s.request("POST", "/v1/admin/reload", body=b"x" * 5000)
        self.assertEqual(status, 413)
        self.assertIn("http_max_body", body)
        # also when the size is only known while streaming (chunked)
        text = raw(self.s.port, b"POST /v1/admin/reload HTTP/1.1\r\nHost: x\r\n"
                   b"Transfer-Encoding: chunked\r\n\r\n" + b"800\r\n" + b"y" * 2048 + b"\r\n0\r\n\r\n")
        self.assertIn("413", text.split("\r\n")[0])

    def test_garbage_gets_400_and_server_keeps_serving(self):
        for junk in (b"\x00\x01\x02 garbage\r\n\r\n", b"G@T / HTTP/1.1\r\n\r\n", b"GET\r\n\r\n",
                     b"GET /health HTTP/1.1\r\nBad Header Line\r\n\r\n"):
            text = raw(self.s.port, junk)
            self.assertTrue(text.startswith("HTTP/1.1 400"), text)
        # RFC 9112: an HTTP/1.1 request without Host is refused (1.0 needs none)
        text = raw(self.s.port, b"GET /health HTTP/1.1\r\n\r\n")
        self.assertTrue(text.startswith("HTTP/1.1 400"), text)
        self.assertIn("needs a Host header", text)
        text = raw(self.s.port, b"GET /health HTTP/1.0\r\n\r\n")
        self.assertTrue(text.startswith("HTTP/1.1 200"), text)
        text = raw(self.s.port, b"GET /x HTTP/1.1\r\n" + b"X-Big: " + b"a" * 100000 + b"\r\n\r\n")
        self.assertRegex(text.split("\r\n")[0], r"HTTP/1.1 (431|400)")
        self.assertEqual(self.s.get("/health")[0], 200)
        before = self.s.counter("strata_events_out_total", instance="sink")
        wait_for(lambda: self.s.counter("strata_events_out_total", instance="sink") > before)


if __name__ == "__main__":
    unittest.main()


class ReservedMetricsTest(unittest.TestCase):
    """A plugin cannot register the host's metric families (strata_events_*,
    strata_wal_*, ...) or its labels (pipeline, kind, plugin, instance; le
    and quantile): /metrics stays valid exposition with one family of each
    name. A plugin's family without a label shows at 0 before its first
    event, and a filter's drops are counted as the filter's."""

    def test_reserved_names_refused_and_exposition_valid(self):
        s = Strata(RESERVED_CFG, name="reserved").wait_ready()
        try:
            wait_for(lambda: (s.counter("strata_events_dropped_total", instance="none") or 0) > 0)
            self.assertEqual(s.counter("strata_events_out_total", instance="none"), 0)
            self.assertEqual(s.counter("metricsabuse_refused", instance="abuser"), 8)
            self.assertEqual(s.counter("metricsabuse_flushed_total", instance="abuser"), 0)
            text = s.get("/metrics")[1]
            for fam in ("strata_events_in_total", "strata_wal_bytes", "strata_uptime_seconds"):
                self.assertEqual(text.count(f"# TYPE {fam} "), 1, fam)
            self.assertNotIn("metricsabuse_a_total", text)
            self.assertNotIn("metricsabuse_c", text)
            self.assertNotIn("metricsabuse_d_total", text)
            self.assertNotIn("metricsabuse_e_total", text)
            self.assertEqual(s.counter("metricsabuse_two_total", instance="abuser", tenant="t1",
                                       reason="because"), 2)
            promtool = shutil.which("promtool")
            if promtool:
                r = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                                   capture_output=True)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            log = s.logs()
            self.assertIn("metric_new: strata_events_in_total is reserved for the host", log)
            self.assertIn("label 'instance' is the host's", log)
        finally:
            self.assertEqual(s.stop(), 0)
            s.cleanup()
