"""Compaction to completion on demand, as Elasticsearch's force-merge: POST
/v1/admin/compact on a running node (admin scope, the token's tenant) and
`strata compact DATA_DIR` on a stopped one. Every window at every level is
merged, so many L0 segments become one per day window, and every event is
still found exactly once."""
import glob
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from harness import BIN, Strata, free_port, wait_for

BATCHES, PER_BATCH = 4, 300


def segment_files(data):
    return glob.glob(os.path.join(data, "index", "segments", "**", "*.sseg"), recursive=True)


class CompactTest(unittest.TestCase):
    def serve(self, data):
        port = free_port()
        s = Strata("", name="compact", port=port, env={"STRATA_INDEX_FLUSH": "200ms"},
                   args=["serve", "--data-dir", data, "--listen", f"127.0.0.1:{port}"])
        self.addCleanup(s.cleanup)
        s.wait_ready()
        with open(os.path.join(data, "credentials.json")) as f:
            s.creds = json.load(f)
        return s

    def ingest_batches(self, s, start):
        """BATCHES batches, each sealed into its own L0 segment before the next."""
        h = {"Authorization": "Bearer " + s.creds["ingest_key"],
             "Content-Type": "application/x-ndjson"}
        for b in range(BATCHES):
            body = "\n".join(json.dumps({"msg": f"compactme n{start + b * PER_BATCH + i}",
                                         "service": "svc"}) for i in range(PER_BATCH))
            st, text, _ = s.request("POST", "/v1/ingest", body=body.encode(), headers=h)
            self.assertEqual(st, 202, text)
            want = start + (b + 1) * PER_BATCH
            wait_for(lambda: (s.counter("strata_indexer_events_total") or 0) >= want,
                     60, what="sealed")
            time.sleep(0.3)

    def hits(self, s, query):
        st, text, _ = s.request("POST", "/v1/search", body=json.dumps(
            {"query": query, "limit": 1}).encode(),
            headers={"Authorization": "Bearer " + s.creds["user_token"]})
        self.assertEqual(st, 200, text)
        r = json.loads(text)
        return r["hits"], r["hits_relation"]

    def admin_compact(self, s, token, query=""):
        st, text, _ = s.request("POST", "/v1/admin/compact" + query, body=b"",
                                headers={"Authorization": "Bearer " + token} if token else {},
                                timeout=120)
        return st, json.loads(text)

    def test_running_node_and_stopped_node(self):
        data = tempfile.mkdtemp(prefix="strata-it-compact-")
        self.addCleanup(shutil.rmtree, data, True)
        s = self.serve(data)
        self.ingest_batches(s, 0)
        before = len(segment_files(data))
        self.assertGreaterEqual(before, BATCHES)  # one L0 per sealed batch at least

        # credentials: none, and one without the admin scope
        self.assertEqual(self.admin_compact(s, None)[0], 401)
        st, r = self.admin_compact(s, s.creds["ingest_key"])
        self.assertEqual(st, 403, r)

        st, r = self.admin_compact(s, s.creds["user_token"])
        self.assertEqual(st, 200, r)
        self.assertEqual(r["tenant"], "default")
        self.assertEqual(r["segments_before"], before)
        self.assertGreaterEqual(r["merges"], 1)
        # one segment per day window (two when the test straddles midnight UTC)
        self.assertLessEqual(r["segments_after"], 2)
        self.assertEqual(r["segments_after"], len(segment_files(data)))
        self.assertTrue(all("/L3/" in p for p in segment_files(data)), segment_files(data))
        self.assertEqual(self.hits(s, "compactme"), (BATCHES * PER_BATCH, "eq"))
        self.assertEqual(self.hits(s, "n7"), (1, "eq"))
        self.assertGreaterEqual(s.counter("strata_indexer_compactions_total"), r["merges"])

        # wait=false: accepted at once, done in the background
        st, r = self.admin_compact(s, s.creds["user_token"], "?wait=false")
        self.assertEqual(st, 202, r)
        self.assertTrue(r["accepted"])

        # more segments, then the node stops: strata compact merges them with
        # the last-level segment of the same window
        self.ingest_batches(s, BATCHES * PER_BATCH)
        self.assertEqual(s.stop(), 0)
        on_disk = len(segment_files(data))
        self.assertGreater(on_disk, 1)
        r = subprocess.run([BIN, "compact", data], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"{on_disk} -> ", r.stdout)
        self.assertLessEqual(len(segment_files(data)), 2)

        s2 = self.serve(data)
        self.assertEqual(self.hits(s2, "compactme"), (2 * BATCHES * PER_BATCH, "eq"))
        self.assertEqual(self.hits(s2, f"n{BATCHES * PER_BATCH + 5}"), (1, "eq"))
        # a running node holds the directory: the command says what to do
        r = subprocess.run([BIN, "compact", data], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 1)
        self.assertIn("POST /v1/admin/compact", r.stderr)
        self.assertEqual(s2.stop(), 0)

    def test_usage_and_a_directory_without_an_index(self):
        r = subprocess.run([BIN, "compact"], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2)
        self.assertIn("usage: strata compact DATA_DIR", r.stderr)
        empty = tempfile.mkdtemp(prefix="strata-it-compact-empty-")
        self.addCleanup(shutil.rmtree, empty, True)
        r = subprocess.run([BIN, "compact", empty], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        self.assertIn("holds no index", r.stderr)


if __name__ == "__main__":
    unittest.main()
