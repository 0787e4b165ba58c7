"""`strata serve` and credentials: the first start creates tenant default
with one ingest key and one user token (printed once, saved 0600); the
tenant of every event comes from its credential, never from the body;
401 for a missing or unknown credential, 403 for the wrong scope;
--ingest-key creates or confirms credentials; `strata key revoke` takes
effect on the running server; tenants and keys are listed."""
import json
import os
import shutil
import stat
import subprocess
import tempfile
import unittest

from harness import BIN, Strata, free_port, wait_for


def indexed_events(data):
    """Events in the segments of DATA_DIR/index, read back with `strata inspect`."""
    events = []
    segdir = os.path.join(data, "index", "segments")
    for root, _, files in os.walk(segdir):
        for f in sorted(files):
            if f.endswith(".sseg"):
                r = subprocess.run([BIN, "inspect", "segment", os.path.join(root, f), "--rows",
                                    "1000000"], capture_output=True, text=True, timeout=30)
                events += [json.loads(l) for l in r.stdout.splitlines() if l.startswith("{")]
    return events


def cli(*args):
    r = subprocess.run([BIN] + list(args), capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout, r.stderr


class ServeTest(unittest.TestCase):
    def serve(self, *extra, data=None):
        port = free_port()
        data = data or tempfile.mkdtemp(prefix="strata-it-serve-data-")
        s = Strata("", name="serve", port=port, env={"STRATA_INDEX_FLUSH": "200ms"},
                   args=["serve", "--data-dir", data, "--listen", f"127.0.0.1:{port}"] + list(extra))
        self.addCleanup(s.cleanup)
        self.addCleanup(shutil.rmtree, data, True)
        s.data = data
        return s.wait_ready()

    def ingest(self, s, token, body):
        h = {"Authorization": f"Bearer {token}"} if token else {}
        status, text, hdrs = s.request("POST", "/v1/ingest", body=json.dumps(body).encode(),
                                       headers=h)
        return status, json.loads(text), hdrs

    def test_first_start_creates_and_prints_credentials_once(self):
        s = self.serve()
        path = os.path.join(s.data, "credentials.json")
        with open(path) as f:
            creds = json.load(f)
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        self.assertTrue(creds["ingest_key"].startswith("sk_"))
        self.assertTrue(creds["user_token"].startswith("ut_"))
        # the secret is 32 random bytes (256 bits) in base64url, as the docs
        # say: 43 characters of [A-Za-z0-9_-] behind the prefix
        import base64
        import re
        for cred in (creds["ingest_key"], creds["user_token"]):
            self.assertRegex(cred, r"^(sk|ut)_[A-Za-z0-9_-]{43}$")
            self.assertEqual(len(base64.urlsafe_b64decode(cred[3:] + "=")), 32)
        self.assertNotEqual(re.sub("^..._", "", creds["ingest_key"]),
                            re.sub("^..._", "", creds["user_token"]))
        self.assertIn(creds["ingest_key"], s.logs())
        st, doc, hdrs = self.ingest(s, None, {"logs": [{"msg": "x"}]})
        self.assertEqual(st, 401)
        self.assertEqual(hdrs.get("WWW-Authenticate"), "Bearer")
        st, doc, _ = self.ingest(s, "sk_not_a_real_key_at_all", {"logs": [{"msg": "x"}]})
        self.assertEqual(st, 401)
        st, doc, _ = self.ingest(s, creds["user_token"], {"logs": [{"msg": "x"}]})
        self.assertEqual(st, 403)
        self.assertIn("ingest scope", doc["error"])
        st, doc, _ = self.ingest(s, creds["ingest_key"],
                                 {"source": {"service": "api"},
                                  "logs": [{"msg": "hello", "tenant": "evil"}]})
        self.assertEqual(st, 202)
        wait_for(lambda: len(indexed_events(s.data)) >= 1, what="the event in a segment")
        ev = indexed_events(s.data)[0]
        self.assertEqual(ev["tenant"], "default")  # from the key, not the body
        self.assertEqual(ev["meta"]["tenant"], "evil")  # a body field is just meta
        self.assertEqual(s.stop(), 0)
        # a second start creates nothing new and prints no secret
        s2 = self.serve(data=s.data)
        self.assertNotIn("First start", s2.logs())
        rc, out, _ = cli("key", "list", "--data-dir", s.data)
        self.assertEqual(len(out.strip().splitlines()), 2)
        self.assertEqual(s2.stop(), 0)

    def test_credentials_from_the_config_file(self):
        extra_dir = tempfile.mkdtemp(prefix="strata-it-serve-extra-")
        self.addCleanup(shutil.rmtree, extra_dir, True)
        extra = os.path.join(extra_dir, "extra.yaml")
        with open(extra, "w") as f:
            f.write("serve:\n  ingest_keys: [\"yamlco=sk_yamlco_0123456789abcdef\"]\n"
                    "  user_tokens: [\"yamlco=ut_yamlco_0123456789abcdef\"]\n")
        s = self.serve("--config", extra)
        self.assertFalse(os.path.exists(os.path.join(s.data, "credentials.json")))
        st, doc, _ = self.ingest(s, "sk_yamlco_0123456789abcdef", {"logs": [{"msg": "from yaml"}]})
        self.assertEqual(st, 202)
        wait_for(lambda: len(indexed_events(s.data)) >= 1, what="the event in a segment")
        self.assertEqual(indexed_events(s.data)[0]["tenant"], "yamlco")
        self.assertEqual(s.stop(), 0)
        # a typo in the section is refused with its place
        with open(extra, "w") as f:
            f.write("serve:\n  ingest_key: [\"a=sk_0123456789abcdef0\"]\n")
        rc, out, err = cli("serve", "--data-dir", s.data, "--config", extra, "--listen",
                           "127.0.0.1:1")
        self.assertNotEqual(rc, 0)
        self.assertIn("unknown serve key 'ingest_key'", err)

    def test_flag_credentials_set_the_tenant_and_revocation_applies_live(self):
        key = "sk_acme_0123456789abcdef"
        s = self.serve("--ingest-key", f"acme={key}", "--user-token", "acme=ut_acme_0123456789abcdef")
        self.assertFalse(os.path.exists(os.path.join(s.data, "credentials.json")))
        st, doc, _ = self.ingest(s, key, {"logs": [{"msg": "from acme"}]})
        self.assertEqual(st, 202)
        wait_for(lambda: len(indexed_events(s.data)) >= 1, what="the event in a segment")
        self.assertEqual(indexed_events(s.data)[0]["tenant"], "acme")
        rc, out, _ = cli("tenant", "list", "--data-dir", s.data)
        self.assertIn("acme", out)
        self.assertIn("2 credentials", out)
        # a second tenant and key, added while the server runs
        self.assertEqual(cli("tenant", "add", "globex", "--data-dir", s.data)[0], 0)
        rc, secret, _ = cli("key", "add", "globex", "--data-dir", s.data)
        self.assertEqual(rc, 0)
        secret = secret.strip()
        wait_for(lambda: self.ingest(s, secret, {"logs": [{"msg": "g"}]})[0] == 202, timeout=5,
                 what="new key accepted")
        rc, _, _ = cli("key", "revoke", key[:10], "--data-dir", s.data)
        self.assertEqual(rc, 0)
        wait_for(lambda: self.ingest(s, key, {"logs": [{"msg": "x"}]})[0] == 401, timeout=5,
                 what="revoked key refused")
        self.assertEqual(cli("key", "revoke", "sk_nothing", "--data-dir", s.data)[0], 1)
        self.assertEqual(s.stop(), 0)
        # confirming the same credential again is fine; moving it to another tenant is not
        rc, _, err = cli("serve", "--data-dir", s.data, "--ingest-key", f"globex={key}",
                         "--listen", "127.0.0.1:1")
        self.assertNotEqual(rc, 0)

    def test_usage_errors(self):
        rc, _, err = cli("serve", "--bogus", "x")
        self.assertEqual(rc, 2)
        self.assertIn("usage: strata serve", err)
        rc, _, err = cli("tenant", "add", "Bad Name!", "--data-dir", "/tmp/strata-serve-usage")
        self.assertEqual(rc, 1)
        self.assertIn("must be 1-64 of [a-z0-9_-]", err)


if __name__ == "__main__":
    unittest.main()
