"""Disk full under /v1/ingest with a WAL: strata stops acknowledging (503
with Retry-After, or 429 while the WAL waits to retry), never acknowledges
what is not durable, and recovers by itself when space returns. Runs on a
small tmpfs mounted for the test (needs root; skipped otherwise)."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import BIN, Strata, wait_for

CFG = """
service: {http_listen: "127.0.0.1:{PORT}", data_dir: "DATA"}
pipelines:
  - name: ingest
    buffer: {type: wal, segment_bytes: 512KiB}
    inputs:
      - {plugin: http}
    outputs:
      - {plugin: null, name: sink, delay: 1h}
"""


def mount_tmpfs(size):
    d = tempfile.mkdtemp(prefix="strata-full-")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", d],
                       capture_output=True, text=True)
    if r.returncode != 0:
        os.rmdir(d)
        return None, r.stderr.strip()
    return d, None


class DiskFullTest(unittest.TestCase):
    def test_full_disk_stops_acks_and_recovers_when_space_returns(self):
        mnt, why = mount_tmpfs("6m")
        if not mnt:
            self.skipTest(f"cannot mount a tmpfs here ({why}); this test needs root")
        self.addCleanup(lambda: (subprocess.run(["umount", "-l", mnt]), shutil.rmtree(mnt, True)))
        filler = os.path.join(mnt, "filler")
        with open(filler, "wb") as f:
            f.write(b"\0" * (3 << 20))
        s = Strata(CFG.replace("DATA", os.path.join(mnt, "data")), name="full").wait_ready()
        self.addCleanup(s.cleanup)
        acked, refused, statuses = [], [], []
        for b in range(200):
            msgs = [f"b{b}-e{k}-" + "x" * 100 for k in range(200)]
            st, text, hdrs = s.request("POST", "/v1/ingest",
                                       body=json.dumps({"logs": [{"msg": m} for m in msgs]}).encode())
            statuses.append(st)
            if st == 202:
                acked.extend(msgs)
            else:
                self.assertIn(st, (429, 503), text)
                self.assertEqual(hdrs.get("Retry-After"), "1")
                refused.extend(msgs)
                if st == 503:
                    break
        self.assertIn(503, statuses, "the disk never filled; make the filler bigger")
        self.assertTrue(acked)
        self.assertGreaterEqual(s.counter("strata_wal_write_failures_total", pipeline="ingest"), 1)
        # space returns: after the retry interval, acknowledgements resume
        os.remove(filler)
        wait_for(lambda: s.request("POST", "/v1/ingest",
                                   body=b'{"logs":[{"msg":"after-space-returned"}]}')[0] == 202,
                 timeout=10, interval=0.2, what="acks resume")
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait()
        # every acknowledged event is in the WAL once; no refused one is
        out = subprocess.run([BIN, "wal", "dump", os.path.join(mnt, "data/wal/ingest")],
                             capture_output=True, text=True)
        stored = [json.loads(l)["event"]["msg"] for l in out.stdout.splitlines()]
        self.assertEqual(len(stored), len(set(stored)))
        self.assertEqual(set(acked) - set(stored), set())
        self.assertEqual(set(refused) & set(stored), set())
        self.assertIn("after-space-returned", stored)


if __name__ == "__main__":
    unittest.main()
