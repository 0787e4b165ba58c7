"""The command line: --version, validate (good, bad, wrong-ABI plugin),
plugins listing and one plugin's documented keys."""
import os
import subprocess
import tempfile
import unittest

from harness import BIN, TEST_PLUGINS, host_abi


def run(*args, env=None):
    e = dict(os.environ)
    e.update(env or {})
    r = subprocess.run([BIN] + list(args), capture_output=True, text=True, env=e, timeout=60)
    return r.returncode, r.stdout, r.stderr


class CliTest(unittest.TestCase):
    def write(self, text):
        fd, path = tempfile.mkstemp(suffix=".yaml")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        self.addCleanup(os.unlink, path)
        return path

    def test_version(self):
        rc, out, _ = run("--version")
        self.assertEqual(rc, 0)
        self.assertRegex(out, r"^strata \d+\.\d+\.\d+ \(plugin ABI 1\.\d+\)")

    def test_validate_good_and_bad(self):
        good = self.write("pipelines:\n  - name: p\n    inputs: [{plugin: dummy}]\n"
                          "    outputs: [{plugin: stdout}]\n")
        rc, out, _ = run("validate", good)
        self.assertEqual(rc, 0)
        self.assertIn("OK (1 pipelines, 2 instances)", out)
        bad = self.write("pipelines:\n  - name: p\n    inputs: [{plugin: dummy, rate: lots}]\n"
                         "    outputs: [{plugin: file}]\n")
        rc, _, err = run("validate", bad)
        self.assertEqual(rc, 2)
        self.assertIn(f"{bad}:3:", err)
        self.assertIn("key 'rate'", err)
        self.assertIn(f"{bad}:4:", err)
        self.assertIn("needs key 'path'", err)
        rc, _, err = run("run", bad)  # run refuses before starting anything
        self.assertEqual(rc, 2)
        self.assertIn("is not valid", err)

    def test_value_rules_are_checked_at_validation_with_file_and_line(self):
        """Rules on values (ABI 1.4) fail `strata validate` at the value's
        file and line: bounds, the built-in plugins' own checks (a grep
        regex that does not compile), enums, list items; an unquoted YAML
        null is no value (the default applies)."""
        bad = self.write("pipelines:\n  - name: p\n    inputs:\n"
                         "      - {plugin: dummy, rate: -1}\n"
                         "      - {plugin: dummy, name: b, batch_size: 2000000, level: loud}\n"
                         "    filters:\n"
                         "      - {plugin: grep, regex: \"([\"}\n"
                         "      - {plugin: grep, name: g2, regex: x, field: nope}\n"
                         "    outputs: [{plugin: null}]\n")
        rc, _, err = run("validate", bad)
        self.assertEqual(rc, 2, err)
        self.assertIn(f"{bad}:4:", err)
        self.assertIn("key 'rate' of input 'dummy' (plugin dummy) in pipeline 'p' must be at least 0; "
                      "got '-1'", err)
        self.assertIn(f"{bad}:5:", err)
        self.assertIn("must be at most 1000000; got '2000000'", err)
        self.assertIn("must be TRACE, DEBUG, INFO, WARN, ERROR or FATAL (any case) (got 'loud')",
                      err)
        self.assertIn(f"{bad}:7:", err)
        self.assertIn("key 'regex' of filter 'grep' (plugin grep) in pipeline 'p': not a valid regex "
                      "at offset 2", err)
        self.assertIn(f"{bad}:8:", err)
        self.assertIn("pipeline 'p': must be msg, service, host, level, tenant or meta.KEY (got 'nope')", err)
        null = self.write("pipelines:\n  - name: p\n    inputs:\n"
                          "      - plugin: dummy\n        rate:\n        level: ~\n"
                          "    outputs: [{plugin: null}]\n")
        rc, out, err = run("validate", null)
        self.assertEqual(rc, 0, err)
        rules = self.write(f"service: {{plugins_dir: '{TEST_PLUGINS}'}}\n"
                           "pipelines:\n  - name: p\n    inputs: [{plugin: dummy}]\n"
                           "    outputs:\n"
                           "      - {plugin: rules, mode: slow, depth: 11, window: 50ms,\n"
                           "         tags: [red, pink], name_prefix: y-a}\n"
                           "      - {plugin: rules, name: ok, mode: safe, depth: 10, window: 100ms,"
                           " tags: [blue], name_prefix: x-a}\n")
        rc, _, err = run("validate", rules)
        self.assertEqual(rc, 2, err)
        self.assertIn("in pipeline 'p' must be one of fast, safe; got 'slow'", err)
        self.assertIn("must be at most 10; got '11'", err)
        self.assertIn("must be at least 100ms; got '50ms'", err)
        self.assertIn("must be one of red, green, blue; got 'pink'", err)
        self.assertIn("in pipeline 'p': must start with 'x-' (got 'y-a')", err)
        self.assertNotIn("output 'ok'", err)

    def test_plugin_declaring_a_host_key_is_refused(self):
        cfg = self.write(f"service: {{plugins_dir: '{TEST_PLUGINS}'}}\n"
                         "pipelines:\n  - name: p\n    inputs: [{plugin: hostkey}]\n"
                         "    outputs: [{plugin: null}]\n")
        rc, _, err = run("validate", cfg)
        self.assertEqual(rc, 2)
        self.assertIn("plugin 'hostkey' declares config key 'tag', which the host reads on every "
                      "input itself", err)

    def test_more_outputs_than_a_pipeline_routes_is_refused(self):
        """A pipeline of 65 outputs is refused with the limit named (routing
        and WAL checkpoints hold 64: a 65th would get nothing and lose its
        checkpoint); 64 are accepted."""
        def cfg(n):
            outs = "".join(f"      - {{plugin: null, name: o{k}}}\n" for k in range(n))
            return self.write("pipelines:\n  - name: fan\n    inputs: [{plugin: dummy}]\n"
                              "    outputs:\n" + outs)
        rc, out, err = run("validate", cfg(64))
        self.assertEqual(rc, 0, err)
        bad = cfg(65)
        rc, _, err = run("validate", bad)
        self.assertEqual(rc, 2)
        self.assertIn(f"{bad}:2:", err)
        self.assertIn("pipeline 'fan' has 65 outputs; a pipeline routes to at most 64 "
                      "(PIPELINE_MAX_OUTPUTS)", err)
        rc, _, err = run("run", bad)
        self.assertEqual(rc, 2)

    def test_wrong_abi_plugin_is_refused_by_name_and_versions(self):
        cfg = self.write(f"service: {{plugins_dir: '{TEST_PLUGINS}'}}\n"
                         "pipelines:\n  - name: p\n    inputs: [{plugin: dummy}]\n"
                         "    outputs: [{plugin: abi_major}]\n")
        rc, _, err = run("validate", cfg)
        self.assertEqual(rc, 2)
        self.assertIn("strata_output_abi_major.so", err)
        self.assertIn(f"built for Strata plugin ABI 2.0, this host speaks ABI {host_abi()}", err)

    def test_plugins_list_and_details(self):
        rc, out, _ = run("plugins")
        self.assertEqual(rc, 0)
        for name in ("dummy", "stdin", "http", "modify", "grep", "stdout", "file", "null"):
            self.assertRegex(out, rf"(?m)^\w+\s+{name}\s")
        rc, out, _ = run("plugins", "file")
        self.assertEqual(rc, 0)
        self.assertIn("path", out)
        self.assertIn("required", out)
        self.assertIn("fdatasync", out)
        rc, out, _ = run("plugins", "--json")
        self.assertEqual(rc, 0)
        import json
        self.assertTrue(any(p["name"] == "grep" for p in json.loads(out)))
        rc, _, err = run("plugins", "nonesuch")
        self.assertEqual(rc, 1)
        self.assertIn("no plugin named 'nonesuch'", err)

    def test_host_keys_are_printed_from_the_tables_that_validate_them(self):
        rc, out, _ = run("plugins", "--host")
        self.assertEqual(rc, 0)
        self.assertRegex(out, r"(?m)^    http_listen +string +default: 127\.0\.0\.1:7070$")
        self.assertRegex(out, r"(?m)^    grace +duration +default: 5000ms$")
        self.assertIn("one of: error, warn, warning, info, debug", out)
        output = out[out.index("keys of every output:"):]
        self.assertRegex(output, r"(?m)^    queue_max_events +int +default: 100000$")
        self.assertRegex(output, r"(?m)^    retry_limit +int +default: 5$")
        # what it prints is what validation applies
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "bad.yaml")
            with open(path, "w") as f:
                f.write("service:\n  log_level: chatty\npipelines:\n  - name: p\n"
                        "    inputs: [{plugin: dummy}]\n    outputs: [{plugin: null, retry_limit: -2}]\n")
            rc, _, err = run("validate", path)
            self.assertNotEqual(rc, 0)
            self.assertIn("bad.yaml:2:14: key 'log_level' of service must be one of error, warn", err)
            self.assertIn("bad.yaml:6:", err)
            self.assertIn("key 'retry_limit' of output 'null' (plugin null) in pipeline 'p' must be "
                          "at least 0; got '-2'", err)

    def test_plugin_search_path_from_environment(self):
        rc, out, _ = run("plugins", "flaky", env={"STRATA_PLUGIN_PATH": TEST_PLUGINS})
        self.assertEqual(rc, 0)
        self.assertIn("fails on purpose", out)

    def test_shipped_configs_are_valid(self):
        root = os.environ.get("STRATA_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "../.."))
        confd = os.path.join(root, "conf.d")
        found = 0
        for dirpath, _, files in os.walk(confd):
            for f in files:
                if f.endswith(".yaml"):
                    found += 1
                    rc, out, err = run("validate", os.path.join(dirpath, f))
                    self.assertEqual(rc, 0, f"{f}: {err}")
        self.assertGreaterEqual(found, 2)

    def test_usage_errors(self):
        rc, _, err = run("frobnicate")
        self.assertEqual(rc, 2)
        self.assertIn("usage:", err)


if __name__ == "__main__":
    unittest.main()
