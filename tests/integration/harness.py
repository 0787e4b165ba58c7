"""Helpers for integration tests: start the real strata binary with a
config, talk HTTP to it, read its metrics, stop it.

Environment (set by ctest): STRATA_BIN, STRATA_PLUGIN_PATH,
STRATA_TEST_PLUGINS. With STRATA_VALGRIND=1 every process runs under
valgrind and a definite or indirect leak fails the test that started it.
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

BIN = os.environ.get("STRATA_BIN", os.path.join(os.path.dirname(__file__), "../../build/strata"))
TEST_PLUGINS = os.environ.get("STRATA_TEST_PLUGINS", "")
VALGRIND = os.environ.get("STRATA_VALGRIND") == "1"
# valgrind makes everything ~20-50x slower; every wait scales with this
SLOW = 20 if VALGRIND else 1


def host_abi():
    """The plugin ABI the binary speaks, e.g. "1.1" (from strata --version)."""
    out = subprocess.run([BIN, "--version"], capture_output=True, text=True).stdout
    return re.search(r"plugin ABI (\d+\.\d+)", out).group(1)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout=30.0, interval=0.02, what="condition"):
    deadline = time.time() + timeout * SLOW
    last = None
    while time.time() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")


class Strata:
    """One running strata process with its own temp dir and port."""

    def __init__(self, config_text, name="strata", args=None, stdin=None, port=None, env=None,
                 dir=None):
        self.dir = dir or tempfile.mkdtemp(prefix=f"strata-it-{name}-")
        self.port = port or free_port()
        self.config_path = os.path.join(self.dir, "strata.yaml")
        self.write_config(config_text)
        self.log_path = os.path.join(self.dir, "strata.log")
        self.stdout_path = os.path.join(self.dir, "stdout.txt")
        cmd = [BIN] + (args or ["run", self.config_path])
        if VALGRIND:
            cmd = ["valgrind", "--leak-check=full", "--errors-for-leak-kinds=definite,indirect",
                   "--error-exitcode=99", "--track-fds=no", "-q"] + cmd
        self.log = open(self.log_path, "a")
        self.out = open(self.stdout_path, "w")
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=self.log,
                                     env=dict(os.environ, **(env or {})),
                                     stdin=stdin if stdin is not None else subprocess.DEVNULL)

    def write_config(self, text):
        text = text.replace("{PORT}", str(self.port)).replace("{DIR}", self.dir)
        text = text.replace("{TEST_PLUGINS}", TEST_PLUGINS)
        tmp = self.config_path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.config_path)

    def path(self, name):
        return os.path.join(self.dir, name)

    def logs(self):
        with open(self.log_path) as f:
            return f.read()

    def request(self, method, path, body=None, headers=None, timeout=10):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout * SLOW)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, r.read().decode("utf-8", "replace"), dict(r.getheaders())
        finally:
            c.close()

    def get(self, path):
        return self.request("GET", path)

    def wait_ready(self, timeout=30):
        def ready():
            if self.proc.poll() is not None:
                raise AssertionError(f"strata exited with {self.proc.returncode}:\n{self.logs()}")
            try:
                return self.get("/ready")[0] == 200
            except OSError:
                return False
        wait_for(ready, timeout, what="/ready")
        return self

    def metrics(self):
        status, text, _ = self.get("/metrics")
        assert status == 200, text
        return parse_metrics(text)

    def counter(self, name, **labels):
        total = 0.0
        found = False
        for (n, lab), v in self.metrics().items():
            if n == name and all(dict(lab).get(k) == val for k, val in labels.items()):
                total += v
                found = True
        return total if found else None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=60):
        """SIGTERM, wait, and return the exit code (valgrind leaks -> 99)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("strata did not stop within the timeout:\n" + self.logs())
        self.log.close()
        self.out.close()
        if VALGRIND and rc == 99:
            raise AssertionError("valgrind reported errors or leaks:\n" + self.logs())
        return rc

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for f in (self.log, self.out):
            if not f.closed:
                f.close()
        shutil.rmtree(self.dir, ignore_errors=True)


_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Parse Prometheus text format strictly enough to catch malformed output:
    every sample line must parse, every family must have HELP and TYPE before
    its samples, and a family is declared once."""
    out = {}
    typed = set()
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# HELP ") or line.startswith("# TYPE "):
            parts = line.split(" ", 3)
            if line.startswith("# TYPE "):
                if parts[2] in typed:
                    raise AssertionError(f"family {parts[2]} declared twice")
                typed.add(parts[2])
                if parts[3] not in ("counter", "gauge", "histogram", "summary", "untyped"):
                    raise AssertionError(f"bad TYPE line: {line}")
            continue
        if line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            raise AssertionError(f"malformed metrics line: {line!r}")
        name, labels, value = m.group(1), m.group(3) or "", m.group(4)
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        if name not in typed and base not in typed:
            raise AssertionError(f"sample {name} before its TYPE line")
        lab = tuple(_LABEL.findall(labels))
        if labels and ",".join(f'{k}="{v}"' for k, v in lab) != labels:
            raise AssertionError(f"malformed labels: {labels!r}")
        out[(name, lab)] = float(value)
    return out


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        lines = f.read().splitlines()
    return [json.loads(l) for l in lines if l]


def count_lines(path):
    if not os.path.exists(path):
        return 0
    with open(path, "rb") as f:
        return f.read().count(b"\n")
