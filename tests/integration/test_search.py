"""POST /v1/search and /v1/aggregate against the real binary, over HTTP.

The reference model: for random corpora and random queries drawn from the
grammar, /v1/search returns exactly the events a straightforward scan of the
raw events returns (`strata search --file`, which reads the NDJSON the test
wrote and matches each event on its own), in the same order, with an exact
hits count, across the indexer's in-memory head, L0 segments and compacted
ones, page by page through cursors, with random time ranges whose edges fall
on events. Then: cursors stay stable while ingestion goes on; aggregates equal
counts computed here; errors say what was wrong; the limits answer 422, 429
and partial results; a disconnect cancels a query; tenants are isolated; and
`strata search` prints what the API returns."""
import datetime
import http.client
import json
import os
import random
import subprocess
import threading
import time
import unittest

from harness import BIN, SLOW, Strata, wait_for

CFG = """
service: {http_listen: "127.0.0.1:{PORT}", data_dir: "{DIR}/data", grace: 10s}
pipelines:
  - name: ingest
    buffer: {type: wal}
    inputs:
      - {plugin: http, max_events: 5000}
    outputs:
      - {plugin: indexer, name: index, flush_interval: FLUSH, l1_window: 1s, l2_window: 2s,
         l3_window: 4s, compaction: COMPACT}
    queries:
      - {plugin: search, EXTRA}
"""


def cfg(flush="300ms", extra="workers: 2", compaction="true"):
    return CFG.replace("FLUSH", flush).replace("EXTRA", extra).replace("COMPACT", compaction)


WORDS = ["Connection", "timeout", "payment", "declined", "user", "login", "failed", "retry",
         "10.0.3.42", "10.0.3.43", "blk_-6952295868", "NullPointerException", "OK", "error",
         "数据库", "Müller", "db-01", "card", "Timeout", "pay", "payment-service", "u_98765",
         "GET", "/api/v1/orders", "trace", "ÉCOLE", "ß", "x"]
SERVICES = ["payments", "auth", "cart-api", "search", "Edge-Proxy"]
HOSTS = ["web01", "web02", "db-01"]
LEVELS = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
# trace ids: 16 hex digits on every event, so that sealed segments hold them
# as a hex id column (segment format 6); drawn from a pool so that some repeat
TRACES = [f"{random.Random(5).getrandbits(64) ^ (i * 0x9E3779B97F4A7C15 % 2**64):016x}"
          for i in range(3000)]
BASE_NS = (int(time.time()) - 3600) * 1_000_000_000
# messages of a few log templates whose numbers vary: the words of their
# fixed text occur in whole templates only, so sealed segments store those
# words' rows as templates (segment format 8); queries draw from them too
TEMPLATES = ["Received block blk_{a} of size {b}", "Served block blk_{a} to /10.0.{c}.{d}",
             "Deleting block blk_{a} file /data/{b}"]
TEMPLATE_WORDS = ["Received", "Served", "Deleting", "block", "size", "blk_", "file", "data"]


def rfc3339(ns):
    s, frac = divmod(ns, 1_000_000_000)
    t = datetime.datetime.fromtimestamp(s, datetime.timezone.utc)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def make_corpus(rng, n, start_id=0):
    """n events with unique ids (meta.n) and unique event times."""
    stamps = rng.sample(range(0, 3_000_000), n)
    events = []
    for i in range(n):
        words = [rng.choice(WORDS) for _ in range(rng.randrange(0, 9))]
        seps = [rng.choice([" ", " ", ", ", ": ", "=", " - "]) for _ in words]
        msg = "".join(s + w for s, w in zip(seps, words)).strip(" ,:=-") or "empty"
        if rng.random() < 0.3:
            msg = rng.choice(TEMPLATES).format(a=rng.randrange(10**9), b=rng.randrange(10**6),
                                               c=rng.randrange(256), d=rng.randrange(256))
        ev = {"ts": rfc3339(BASE_NS + stamps[i] * 1_000_000 + rng.randrange(1000)),
              "service": rng.choice(SERVICES), "host": rng.choice(HOSTS),
              "level": rng.choice(LEVELS), "msg": msg,
              "meta": {"n": start_id + i, "trace_id": rng.choice(TRACES)}}
        if rng.random() < 0.7:
            ev["meta"]["latency_ms"] = rng.randrange(0, 1000)
        if rng.random() < 0.5:
            ev["meta"]["user_id"] = f"u_{rng.randrange(100)}"
        if rng.random() < 0.3:
            ev["meta"]["note"] = rng.choice(WORDS) + " " + rng.choice(WORDS)
        events.append(ev)
    return events


def write_corpus(s, events):
    """The events as NDJSON in the instance's directory (what `scan` reads)."""
    path = s.path("corpus.ndjson")
    with open(path, "w") as f:
        for e in events:
            f.write(json.dumps(e, ensure_ascii=False) + "\n")
    return path


def rand_query(rng, depth=0):
    k = rng.randrange(9 if depth > 2 else 13)
    w = rng.choice(WORDS + TEMPLATE_WORDS)
    if k in (0, 1):
        return f'"{w}"' if any(c in w for c in '/:') else w
    if k == 2:
        return f'"{w} {rng.choice(WORDS)}"'
    if k == 3:
        return rng.choice(["pay*", "time*", "*out", "p?y*", "10.0.3.*", "us*r", "nullpointer*",
                           "dat*"])
    if k == 4:
        return rng.choice(["service:payments", "service:cart-*", "host:web01",
                           'service:"edge-proxy"', "host:db-01"])
    if k == 5:
        return rng.choice(["level:error", "level>=WARN", "level<info", "level:fatal",
                           "level<=debug"])
    if k == 6:
        return f"meta.latency_ms{rng.choice(['>', '<=', '>=', '<', '='])}{rng.randrange(1000)}"
    if k == 7:
        t = rng.choice(TRACES)
        return rng.choice(["meta.user_id:*", "meta.note:*", "meta.user_id:u_7",
                           'meta.note:"card timeout"', "meta.note:pay*", f"meta.trace_id:{t}",
                           f"meta.trace_id:{t[:2]}*", f"meta.trace_id:{t[:1]}*", "meta.trace_id:*",
                           f"meta.trace_id:{t} AND level>=warn"])
    if k == 8:
        return rng.choice(["/time/", "/d[a-z]+ed/", "/TIMEOUT/i", "/^Conn/", "/\\d+\\.\\d+/"])
    if k in (9, 10):
        op = " OR " if k == 9 else rng.choice([" ", " AND "])
        return "(" + rand_query(rng, depth + 1) + op + rand_query(rng, depth + 1) + ")"
    return rng.choice(["NOT ", "-"]) + rand_query(rng, depth + 1)


def ingest(s, events, headers=None):
    for i in range(0, len(events), 1000):
        body = "\n".join(json.dumps(e) for e in events[i:i + 1000]).encode()
        st, text, _ = s.request("POST", "/v1/ingest", body=body,
                                headers=dict({"Content-Type": "application/x-ndjson"},
                                             **(headers or {})), timeout=60)
        assert st == 202, (st, text)


def wait_visible(s, n, headers=None):
    """A 202 means durable in the WAL; the indexer reads it from there a few
    ms later. Wait until all n events are searchable."""
    wait_for(lambda: search(s, {"query": "", "limit": 1}, headers)[1].get("hits") == n, 60,
             what=f"{n} events searchable")


def search(s, req, headers=None, timeout=60):
    st, text, _ = s.request("POST", "/v1/search", body=json.dumps(req).encode(),
                            headers=headers, timeout=timeout)
    return st, json.loads(text) if text.startswith("{") else text


def scan(path, query):
    """The reference: every event of the file the query matches (its ids)."""
    out = subprocess.run([BIN, "search", "--file", path, "--json", "--limit", "100000000", "--",
                          query],
                         capture_output=True, text=True)
    assert out.returncode == 0, (query, out.stderr)
    return [json.loads(l) for l in out.stdout.splitlines()]


def ts_ns(text):
    """RFC 3339 with 9 fraction digits (as the test wrote) -> ns."""
    d, frac = text.rstrip("Z").split(".")
    t = datetime.datetime.strptime(d, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
    return int(t.timestamp()) * 1_000_000_000 + int(frac.ljust(9, "0"))


class ReferenceModelTest(unittest.TestCase):
    def test_search_equals_scan(self):
        rng = random.Random(20261126)
        events = make_corpus(rng, 4000)
        s = Strata(cfg(flush="300ms"), name="search-ref")
        try:
            s.wait_ready()
            path = write_corpus(s, events)
            # most events sealed into segments (some compacted), the rest in the head
            ingest(s, events[:3000])
            wait_for(lambda: (s.counter("strata_indexer_events_total") or 0) >= 3000, 60,
                     what="3000 events sealed")
            s.write_config(cfg(flush="1h"))
            st, text, _ = s.request("POST", "/v1/admin/reload")
            self.assertEqual(st, 200, text)
            ingest(s, events[3000:])
            wait_visible(s, 4000)
            stamps = sorted(ts_ns(e["ts"]) for e in events)
            checked = nonempty = 0
            for qi in range(120):
                q = rand_query(rng)
                ref = scan(path, q)
                # a random time range whose edges fall exactly on events
                req = {"query": q, "sort": rng.choice(["asc", "desc"]),
                       "limit": rng.choice([1, 7, 50, 1000]), "track_hits": rng.random() < 0.5}
                lo, hi = None, None
                if rng.random() < 0.6:
                    a, b = sorted(rng.sample(stamps, 2))
                    lo, hi = a, b
                    req["time_range"] = {"from": rfc3339(a), "to": rfc3339(b)}
                want = [e for e in ref
                        if (lo is None or lo <= ts_ns(e["ts"]) < hi)]
                want.sort(key=lambda e: ts_ns(e["ts"]), reverse=req["sort"] == "desc")
                want_ids = [e["meta"]["n"] for e in want]
                got_ids, cursor, hits = [], None, None
                for _ in range(10000):
                    if cursor:
                        req["cursor"] = cursor
                    st, r = search(s, req)
                    self.assertEqual(st, 200, (q, r))
                    self.assertFalse(r["partial"], (q, r))
                    if hits is None:
                        hits, rel = r["hits"], r["hits_relation"]
                    got_ids += [l["meta"]["n"] for l in r["logs"]]
                    cursor = r["next_cursor"]
                    if not cursor:
                        break
                self.assertEqual(got_ids, want_ids, f"query {qi}: {q!r} {req}")
                if req["track_hits"]:  # asked for: always exact
                    self.assertEqual(rel, "eq", f"query {q!r}")
                if rel == "eq":
                    self.assertEqual(hits, len(want_ids), f"query {q!r}")
                else:
                    self.assertLessEqual(hits, len(want_ids), f"query {q!r}")
                checked += 1
                nonempty += bool(want_ids)
            self.assertEqual(checked, 120)
            self.assertGreater(nonempty, 40)
            # every event is found by its id, wherever it lives
            st, r = search(s, {"query": "", "limit": 10000})
            self.assertEqual(r["hits"], 4000)
            self.assertEqual(len(r["logs"]), 4000)
            self.assertEqual(len({l["meta"]["n"] for l in r["logs"]}), 4000)
            self.assertEqual(s.stop(), 0)
        finally:
            s.cleanup()

    def test_time_ordered_segments_count_every_hit(self):
        # as real logs arrive: event time rising with arrival, so each sealed
        # segment covers its own stretch of time and, once the page is full,
        # older segments can only add to the count (which must stay exact)
        rng = random.Random(7)
        events = make_corpus(rng, 2400)
        stamps = sorted(ts_ns(e["ts"]) for e in events)
        for e, t in zip(events, stamps):
            e["ts"] = rfc3339(t)
        s = Strata(cfg(flush="200ms", compaction="false"), name="search-ordered")
        try:
            s.wait_ready()
            path = write_corpus(s, events)
            for k in range(4):
                ingest(s, events[k * 600:(k + 1) * 600])
                wait_for(lambda: (s.counter("strata_indexer_events_total") or 0) >= (k + 1) * 600,
                         60, what=f"batch {k} sealed")
            wait_visible(s, 2400)
            for q in ["timeout", "service:payments level:error", "level>=warn", "host:web01",
                      "pay* -declined", "meta.user_id:u_7 OR level:fatal"]:
                want = sorted(scan(path, q), key=lambda e: ts_ns(e["ts"]))
                self.assertGreater(len(want), 5, q)
                for order in ("desc", "asc"):
                    st, r = search(s, {"query": q, "limit": 5, "sort": order})
                    self.assertEqual(st, 200, r)
                    self.assertGreaterEqual(r["segments"], 4, r)
                    self.assertEqual((r["hits"], r["hits_relation"]), (len(want), "eq"), q)
                    page = want[-5:][::-1] if order == "desc" else want[:5]
                    self.assertEqual([l["meta"]["n"] for l in r["logs"]],
                                     [e["meta"]["n"] for e in page], (q, order))
            # verified on the rows: rows that cannot make the page stay
            # unverified (a lower bound), unless an exact count is asked for
            q = "/time/i -level:debug"
            want = sorted(scan(path, q), key=lambda e: ts_ns(e["ts"]))
            self.assertGreater(len(want), 5, q)
            for order in ("desc", "asc"):
                page = want[-5:][::-1] if order == "desc" else want[:5]
                for track in (False, True):
                    st, r = search(s, {"query": q, "limit": 5, "sort": order,
                                       "track_hits": track})
                    self.assertEqual(st, 200, r)
                    self.assertEqual([l["meta"]["n"] for l in r["logs"]],
                                     [e["meta"]["n"] for e in page], (q, order))
                    if track:
                        self.assertEqual((r["hits"], r["hits_relation"]), (len(want), "eq"))
                    else:
                        self.assertLessEqual(r["hits"], len(want))
            self.assertEqual(s.stop(), 0)
        finally:
            s.cleanup()

    def test_cursor_is_stable_while_ingesting(self):
        rng = random.Random(7)
        events = make_corpus(rng, 1500)
        s = Strata(cfg(flush="200ms"), name="search-cursor")
        try:
            s.wait_ready()
            ingest(s, events)
            wait_visible(s, 1500)
            seen, cursor, pages = [], None, 0
            newer = make_corpus(random.Random(8), 3000, start_id=100000)
            for e in newer:  # newer than every existing event: before any cursor
                e["ts"] = rfc3339(BASE_NS + 4_000_000_000_000 + ts_ns(e["ts"]) - BASE_NS)
            while True:
                req = {"query": "", "limit": 100}
                if cursor:
                    req["cursor"] = cursor
                st, r = search(s, req)
                self.assertEqual(st, 200, r)
                seen += [l["meta"]["n"] for l in r["logs"]]
                cursor = r["next_cursor"]
                if pages < len(newer) // 200:
                    ingest(s, newer[pages * 200:(pages + 1) * 200])  # sealed as pages go
                pages += 1
                if not cursor:
                    break
            old = [n for n in seen if n < 100000]
            self.assertEqual(len(old), len(set(old)), "a page repeated an event")
            self.assertEqual(sorted(old), list(range(1500)), "a page skipped an event")
            self.assertEqual(seen[:100], [n for n in seen[:100]])
            self.assertEqual(s.stop(), 0)
        finally:
            s.cleanup()


class ReadYourWritesTest(unittest.TestCase):
    def test_an_acknowledged_event_is_found_at_once(self):
        """A 202 means durable in the WAL; the search waits until the indexer
        holds everything acknowledged before it, so the very next query
        finds the event (while other batches keep arriving)."""
        # the indexer takes each batch 150 ms late: without the wait, the
        # search right after a 202 would run before the event is in the head
        s = Strata(cfg(flush="1h"), name="search-ryw", env={"STRATA_INDEXER_DELAY_MS": "150"})
        stop = threading.Event()
        try:
            s.wait_ready()
            rng = random.Random(5)

            def load():  # other traffic, slow enough for the lagging indexer to keep up
                while not stop.wait(0.3):
                    ingest(s, make_corpus(rng, 100, start_id=10**6))

            t = threading.Thread(target=load)
            t.start()
            for i in range(20):
                word = f"ryw{i}x{random.getrandbits(32):08x}"
                st, text, _ = s.request("POST", "/v1/ingest", body=json.dumps(
                    {"msg": f"fresh {word}"}).encode(), headers={"Content-Type":
                                                               "application/x-ndjson"})
                self.assertEqual(st, 202, text)
                st, r = search(s, {"query": word})
                self.assertEqual((st, r["hits"]), (200, 1), f"probe {i}: {r}")
            stop.set()
            t.join()
            self.assertEqual(s.stop(), 0)
        finally:
            stop.set()
            s.cleanup()


class AggregateTest(unittest.TestCase):
    def test_counts_and_metrics_equal_the_corpus(self):
        rng = random.Random(99)
        events = make_corpus(rng, 3000)
        s = Strata(cfg(flush="200ms"), name="search-agg")
        try:
            s.wait_ready()
            ingest(s, events[:2000])
            wait_for(lambda: (s.counter("strata_indexer_events_total") or 0) >= 2000, 60,
                     what="sealed")
            ingest(s, events[2000:])
            wait_visible(s, 3000)
            st, text, _ = s.request("POST", "/v1/aggregate", body=json.dumps(
                {"group_by": ["service", "level"], "interval": "5m"}).encode())
            self.assertEqual(st, 200, text)
            r = json.loads(text)
            want = {}
            for e in events:
                b = ts_ns(e["ts"]) // (300 * 10**9) * 300
                key = (b, e["service"], e["level"])
                want[key] = want.get(key, 0) + 1
            got = {}
            for b in r["buckets"]:
                t = ts_ns(b["ts"].replace(".000Z", ".000000000Z")) // 10**9
                got[(t, b["group"]["service"], b["group"]["level"])] = b["value"]
            self.maxDiff = None
            self.assertEqual(got, want)
            self.assertEqual(r["hits"], 3000)
            self.assertGreater(r["rollup_segments"], 0)  # sealed segments: from their rollups
            # a range that cuts segments: those read their columns instead
            mid = sorted(ts_ns(e["ts"]) for e in events)[1234]
            st, text, _ = s.request("POST", "/v1/aggregate", body=json.dumps(
                {"group_by": "level", "interval": "1m",
                 "time_range": {"from": rfc3339(mid)}}).encode())
            r = json.loads(text)
            want = {}
            for e in events:
                if ts_ns(e["ts"]) >= mid:
                    key = (ts_ns(e["ts"]) // (60 * 10**9) * 60, e["level"])
                    want[key] = want.get(key, 0) + 1
            got = {(ts_ns(b["ts"].replace(".000Z", ".000000000Z")) // 10**9,
                    b["group"]["level"]): b["value"] for b in r["buckets"]}
            self.assertEqual(got, want)
            # a query, a meta group and a numeric metric (rows path)
            st, text, _ = s.request("POST", "/v1/aggregate", body=json.dumps(
                {"query": "timeout OR level:error", "group_by": "meta.user_id",
                 "metric": "max", "field": "meta.latency_ms"}).encode())
            self.assertEqual(st, 200, text)
            r = json.loads(text)
            match = {e["meta"]["n"]
                     for e in scan(write_corpus(s, events), "timeout OR level:error")}
            want = {}
            for e in events:
                if e["meta"]["n"] not in match:
                    continue
                u = e["meta"].get("user_id")
                lat = e["meta"].get("latency_ms")
                cur = want.get(u, None)
                if lat is not None and (cur is None or lat > cur):
                    want[u] = lat
                elif u not in want:
                    want[u] = None
            got = {b["group"]["meta.user_id"]: b["value"] for b in r["buckets"]}
            self.assertEqual(got, want)
            # the postings answer that query exactly: no message is read; a
            # regex must be verified on the messages
            self.assertEqual(r["message_rows"], 0)
            q = "/time.ut/ OR level:error"
            st, text, _ = s.request("POST", "/v1/aggregate", body=json.dumps(
                {"query": q, "group_by": "level"}).encode())
            r = json.loads(text)
            self.assertEqual(r["hits"], len(scan(write_corpus(s, events), q)))
            self.assertGreater(r["message_rows"], 0)
            # without message terms, stored rows are read without their
            # messages: only the meta frames of the blocks are decompressed
            q = "meta.latency_ms>500 -level:debug"
            st, text, _ = s.request("POST", "/v1/aggregate", body=json.dumps(
                {"query": q, "group_by": "meta.user_id", "metric": "avg",
                 "field": "meta.latency_ms"}).encode())
            self.assertEqual(st, 200, text)
            r = json.loads(text)
            match = {e["meta"]["n"] for e in scan(write_corpus(s, events), q)}
            lats = {}
            for e in events:
                if e["meta"]["n"] in match:
                    lats.setdefault(e["meta"].get("user_id"), []).append(e["meta"]["latency_ms"])
            self.assertGreater(len(match), 0)
            self.assertEqual({b["group"]["meta.user_id"]: round(b["value"], 6)
                              for b in r["buckets"]},
                             {u: round(sum(v) / len(v), 6) for u, v in lats.items()})
            self.assertEqual(r["hits"], len(match))
            self.assertEqual(r["message_rows"], 0)
            # count_distinct and a percentile
            st, text, _ = s.request("POST", "/v1/aggregate", body=json.dumps(
                {"group_by": "service", "metric": "count_distinct", "field": "host"}).encode())
            r = json.loads(text)
            self.assertEqual({b["group"]["service"]: b["value"] for b in r["buckets"]},
                             {svc: len({e["host"] for e in events if e["service"] == svc})
                              for svc in SERVICES})
            # trace ids: a hex id column in the sealed segments (values read
            # back through the rows), plain terms in the head
            st, text, _ = s.request("POST", "/v1/aggregate", body=json.dumps(
                {"group_by": "service", "metric": "count_distinct",
                 "field": "meta.trace_id"}).encode())
            r = json.loads(text)
            self.assertEqual({b["group"]["service"]: b["value"] for b in r["buckets"]},
                             {svc: len({e["meta"]["trace_id"] for e in events
                                        if e["service"] == svc}) for svc in SERVICES})
            st, text, _ = s.request("POST", "/v1/aggregate", body=json.dumps(
                {"query": "level:error", "group_by": "meta.trace_id"}).encode())
            r = json.loads(text)
            want = {}
            for e in events:
                if e["level"] == "ERROR":
                    want[e["meta"]["trace_id"]] = want.get(e["meta"]["trace_id"], 0) + 1
            self.assertEqual({b["group"]["meta.trace_id"]: b["value"] for b in r["buckets"]},
                             want)
            st, text, _ = s.request("POST", "/v1/aggregate", body=json.dumps(
                {"metric": "p50", "field": "meta.latency_ms"}).encode())
            r = json.loads(text)
            lats = sorted(e["meta"]["latency_ms"] for e in events if "latency_ms" in e["meta"])
            self.assertEqual(r["buckets"][0]["value"], lats[(len(lats) + 1) // 2 - 1])
            self.assertEqual(r["message_rows"], 0)
            # an exact query whose groups and metric are meta columns of the
            # segments (frequent keys: user_id by dictionary, latency_ms as
            # numbers): answered without reading a row block
            q = "level:error OR service:payments"
            match = {e["meta"]["n"] for e in scan(write_corpus(s, events), q)}
            st, text, _ = s.request("POST", "/v1/aggregate", body=json.dumps(
                {"query": q, "group_by": "meta.user_id", "metric": "count_distinct",
                 "field": "meta.latency_ms"}).encode())
            self.assertEqual(st, 200, text)
            r = json.loads(text)
            want = {}
            for e in events:
                if e["meta"]["n"] in match:
                    d = want.setdefault(e["meta"].get("user_id"), set())
                    if "latency_ms" in e["meta"]:
                        d.add(e["meta"]["latency_ms"])
            self.assertEqual({b["group"]["meta.user_id"]: b["value"] for b in r["buckets"]},
                             {u: len(d) for u, d in want.items()})
            self.assertEqual(r["hits"], len(match))
            self.assertEqual(r["block_rows"], 0, r)
            # distinct values of a dictionary column per bucket, no groups: a
            # query's few rows (values hashed as met) and every row (all
            # values hashed up front); the sets of segments and head merge
            all_ns = {e["meta"]["n"] for e in events}
            for query, rows in ((q, match), ("", all_ns)):
                st, text, _ = s.request("POST", "/v1/aggregate", body=json.dumps(
                    {"query": query, "metric": "count_distinct", "field": "meta.user_id",
                     "interval": "10m"}).encode())
                r = json.loads(text)
                want = {}
                for e in events:
                    if e["meta"]["n"] in rows and "user_id" in e["meta"]:
                        want.setdefault(ts_ns(e["ts"]) // (600 * 10**9) * 600, set()).add(
                            e["meta"]["user_id"])
                got = {ts_ns(b["ts"].replace(".000Z", ".000000000Z")) // 10**9: b["value"]
                       for b in r["buckets"] if b["value"]}
                self.assertEqual(got, {t: len(v) for t, v in want.items()}, query)
                self.assertEqual(r["hits"], len(rows), query)
                self.assertEqual(r["block_rows"], 0, r)
            st, text, _ = s.request("POST", "/v1/aggregate", body=json.dumps(
                {"query": q, "metric": "max", "field": "meta.n"}).encode())
            r = json.loads(text)
            self.assertEqual(r["buckets"][0]["value"], max(match))
            self.assertEqual(r["block_rows"], 0, r)
            self.assertEqual(s.stop(), 0)
        finally:
            s.cleanup()


class ErrorsAndLimitsTest(unittest.TestCase):
    def test_bad_requests_say_what_is_wrong(self):
        s = Strata(cfg(), name="search-errors")
        try:
            s.wait_ready()
            cases = [
                (b"{", "not valid JSON"),
                (b"[]", "must be a JSON object"),
                (json.dumps({"query": "(timeout"}).encode(), "column 9: expected ')'"),
                (json.dumps({"query": "sevrice:x"}).encode(), "unknown field 'sevrice'"),
                (json.dumps({"qurey": "x"}).encode(), "unknown field 'qurey'"),
                (json.dumps({"limit": 20000}).encode(), "limit must be"),
                (json.dumps({"cursor": "abc"}).encode(), "cursor is not one"),
                (json.dumps({"time_range": {"from": "yesterday"}}).encode(), "time_range.from"),
                (json.dumps({"time_range": {"from": "now", "to": "now-1h"}}).encode(),
                 "from must be before to"),
                (json.dumps({"time_range": ["now-1h", "now"]}).encode(),
                 "time_range must be {"),
                (json.dumps({"filters": {"service": {"a": 1}}}).encode(), "filters.service"),
                (json.dumps({"query": "/a(b/"}).encode(), "invalid regex"),
                (b'{"query": "ab\xff"}', "the body is not valid UTF-8 (byte 13)"),
                (b'{"query": "a\\u0000b"}', "holds \\u0000"),
            ]
            for body, want in cases:
                st, text, _ = s.request("POST", "/v1/search", body=body)
                self.assertEqual(st, 400, (body, text))
                self.assertIn(want, json.loads(text)["error"], body)
            st, text, _ = s.request("POST", "/v1/aggregate",
                                    body=json.dumps({"interval": "1ms"}).encode())
            self.assertEqual(st, 400, text)
            self.assertIn("interval must be", text)
            st, text, _ = s.request("POST", "/v1/aggregate",
                                    body=json.dumps({"metric": "p99"}).encode())
            self.assertIn("needs \\\"field\\\"", text)
            # wildcards past the expansion cap
            ingest(s, [{"msg": f"tok{i}", "service": "a"} for i in range(5000)])
            wait_for(lambda: (s.counter("strata_indexer_events_total") or 0) >= 5000, 60,
                     what="sealed")
            st, r = search(s, {"query": "tok*"})
            self.assertEqual(st, 400, r)
            self.assertIn("matches more than 4096 terms", r["error"])
            self.assertEqual(s.stop(), 0)
        finally:
            s.cleanup()

    def test_a_regex_past_its_budget_makes_the_answer_partial_not_wrong(self):
        # /(a+)+b|!/ backtracks exponentially over a run of a's before it
        # tries '!': past PCRE2's budget a row counts as not matching, so an
        # answer that says hits 0 "eq" would be wrong; it must say partial
        s = Strata(cfg(flush="200ms"), name="search-regex-budget")
        try:
            s.wait_ready()
            ingest(s, [{"msg": "a" * 40 + "!", "service": "re"} for _ in range(20)] +
                   [{"msg": "plain line", "service": "re"}])
            wait_for(lambda: (s.counter("strata_indexer_events_total") or 0) >= 21, 60,
                     what="sealed")
            st, r = search(s, {"query": "/(a+)+b|!/", "track_hits": True})
            self.assertEqual(st, 200, r)
            self.assertTrue(r["partial"], r)
            self.assertEqual(r["partial_reason"], "regex_budget", r)
            self.assertEqual(r["hits_relation"], "gte", r)
            st, text, _ = s.request("POST", "/v1/aggregate",
                                    body=json.dumps({"query": "/(a+)+b|!/"}).encode())
            self.assertEqual(st, 200, text)
            a = json.loads(text)
            self.assertTrue(a["partial"], a)
            self.assertEqual(a["partial_reason"], "regex_budget", a)
            # a regex within its budget stays exact
            st, r = search(s, {"query": "/a!$/", "track_hits": True})
            self.assertEqual((r["hits"], r["hits_relation"], r["partial"]), (20, "eq", False), r)
            self.assertEqual(s.stop(), 0)
        finally:
            s.cleanup()

    def test_without_an_indexer_of_its_directory_the_answer_says_so(self):
        # the catalog is the indexer's: a search plugin with no indexer of
        # its directory in the process answers 503 naming the directory
        # instead of reading another process's files
        conf = """
service: {http_listen: "127.0.0.1:{PORT}", data_dir: "{DIR}/data"}
pipelines:
  - name: q
    inputs: [{plugin: http}]
    outputs: [{plugin: null}]
    queries: [{plugin: search, dir: "{DIR}/elsewhere"}]
"""
        s = Strata(conf, name="search-noindexer")
        try:
            s.wait_ready()
            for path in ("/v1/search", "/v1/aggregate"):
                st, text, _ = s.request("POST", path, body=b'{"query":"x"}')
                self.assertEqual(st, 503, text)
                self.assertIn("no indexer of " + s.path("elsewhere"), json.loads(text)["error"])
            self.assertEqual(s.stop(), 0)
        finally:
            s.cleanup()

    def test_limits(self):
        extra = ("workers: 2, max_concurrent_per_user: 1, timeout: 300ms, max_segments: 3")
        s = Strata(cfg(flush="100ms", extra=extra, compaction="false"), name="search-limits")
        try:
            s.wait_ready()
            slow = [{"msg": "a" * 3000 + " b", "service": "s"} for _ in range(2000)]
            for i in range(4):  # 4 flushes: 4 L0 segments
                ingest(s, slow[i * 500:(i + 1) * 500])
                wait_for(lambda: (s.counter("strata_indexer_events_total") or 0) >= (i + 1) * 500,
                         60, what="sealed")
                time.sleep(0.2)
            st, r = search(s, {"query": "b"})
            self.assertEqual(st, 422, r)
            self.assertIn("max_segments", r["error"])
            # a catastrophic regex: partial results at the timeout, flagged
            s.write_config(cfg(flush="100ms", extra="workers: 2, max_concurrent_per_user: 1, "
                                                    "timeout: 300ms", compaction="false"))
            self.assertEqual(s.request("POST", "/v1/admin/reload")[0], 200)
            st, r = search(s, {"query": "/(a+)+$/"})
            self.assertEqual(st, 200, r)
            self.assertTrue(r["partial"], r)
            self.assertEqual(r["partial_reason"], "timeout")
            self.assertEqual(r["hits_relation"], "gte")
            # one query at a time per user: the second gets 429
            s.write_config(cfg(flush="100ms", extra="workers: 2, max_concurrent_per_user: 1, "
                                                    "timeout: 3s", compaction="false"))
            self.assertEqual(s.request("POST", "/v1/admin/reload")[0], 200)
            results = []
            t = threading.Thread(target=lambda: results.append(search(s, {"query": "/(a+)+$/"})))
            t.start()
            wait_for(lambda: (s.counter("strata_search_requests_total") or 0) >= 0, 5)
            time.sleep(0.3)
            st, r = search(s, {"query": "b"})
            t.join()
            self.assertEqual(st, 429, r)
            self.assertEqual(results[0][0], 200)
            self.assertEqual(s.counter("strata_search_rejected_total", reason="concurrency"), 1)
            self.assertEqual(s.stop(), 0)
        finally:
            s.cleanup()

    def test_disconnect_cancels_the_query(self):
        s = Strata(cfg(flush="100ms", extra="workers: 1, timeout: 60s"), name="search-cancel")
        try:
            s.wait_ready()
            ingest(s, [{"msg": "a" * 3000 + " b", "service": "s"} for _ in range(3000)])
            wait_for(lambda: (s.counter("strata_indexer_events_total") or 0) >= 3000, 60,
                     what="sealed")
            c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=0.5)
            c.request("POST", "/v1/search", body=json.dumps({"query": "/(a+)+$/"}).encode())
            with self.assertRaises(OSError):
                c.getresponse()
            c.close()
            # the only worker is free again long before the slow query's 60 s
            st, r = search(s, {"query": "b", "limit": 1}, timeout=20)
            self.assertEqual(st, 200, r)
            self.assertEqual(r["hits"], 3000)
            self.assertEqual(s.stop(), 0)
        finally:
            s.cleanup()


AUTH_CFG = """
service: {http_listen: "127.0.0.1:{PORT}", data_dir: "{DIR}/data"}
pipelines:
  - name: ingest
    buffer: {type: wal}
    inputs: [{plugin: http, auth: true}]
    outputs: [{plugin: indexer, flush_interval: 1h}]
    queries: [{plugin: search, auth: true}]
"""


class TenantsAndCliTest(unittest.TestCase):
    def test_tenants_see_only_their_events_and_the_cli_prints_them(self):
        s = None
        try:
            import tempfile
            d = tempfile.mkdtemp(prefix="strata-it-search-auth-")
            keys = {}
            for t in ("acme", "beta"):
                out = subprocess.run([BIN, "tenant", "add", t, "--data-dir",
                                      os.path.join(d, "data")], capture_output=True, text=True)
                self.assertEqual(out.returncode, 0, out.stderr)
                got = []
                for kind in ("ingest", "user"):
                    out = subprocess.run([BIN, "key", "add", t, "--kind", kind, "--data-dir",
                                          os.path.join(d, "data")], capture_output=True, text=True)
                    self.assertEqual(out.returncode, 0, out.stderr)
                    got.append(out.stdout.strip().split()[-1])
                keys[t] = tuple(got)
            s = Strata(AUTH_CFG, name="search-auth", dir=d)
            s.wait_ready()
            for t, (ik, _) in keys.items():
                body = json.dumps({"source": {"service": t}, "logs": [
                    {"msg": f"hello from {t} {i}", "level": "INFO"} for i in range(5)]}).encode()
                st, text, _ = s.request("POST", "/v1/ingest", body=body,
                                        headers={"Authorization": "Bearer " + ik})
                self.assertEqual(st, 202, text)
            for t, (_, ut) in keys.items():
                wait_visible(s, 5, headers={"Authorization": "Bearer " + ut})
            st, r = search(s, {"query": "hello"})
            self.assertEqual(st, 401)
            st, r = search(s, {"query": "hello"},
                           headers={"Authorization": "Bearer " + keys["acme"][0]})
            self.assertEqual(st, 403, r)  # an ingest key may not search
            for t, (_, ut) in keys.items():
                st, r = search(s, {"query": "hello"}, headers={"Authorization": "Bearer " + ut})
                self.assertEqual(st, 200, r)
                self.assertEqual(r["hits"], 5)
                self.assertEqual({l["service"] for l in r["logs"]}, {t})
            # the CLI pages through the same results (JSON lines when piped)
            out = subprocess.run([BIN, "search", "hello", "--server", f"http://127.0.0.1:{s.port}",
                                  "--token", keys["beta"][1], "--limit", "3"],
                                 capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            lines = [json.loads(l) for l in out.stdout.splitlines()]
            self.assertEqual(len(lines), 3)
            self.assertTrue(all(l["service"] == "beta" for l in lines))
            env = dict(os.environ, STRATA_URL=f"http://127.0.0.1:{s.port}",
                       STRATA_TOKEN=keys["acme"][1])
            out = subprocess.run([BIN, "search", "hello", "--level", "info", "--service", "acme"],
                                 capture_output=True, text=True, env=env)
            self.assertEqual(len(out.stdout.splitlines()), 5, out.stderr)
            out = subprocess.run([BIN, "search", "(hello"], capture_output=True, text=True,
                                 env=env)
            self.assertEqual(out.returncode, 1)
            self.assertIn("column 7: expected ')'", out.stderr)
            self.assertEqual(s.stop(), 0)
        finally:
            if s:
                s.cleanup()


if __name__ == "__main__":
    unittest.main()
