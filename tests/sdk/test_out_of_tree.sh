#!/bin/sh
# The SDK as a third party uses it: install Strata to a temporary prefix,
# build sdk/examples/redact out of tree against that install, check that
# the plugin exports only its entry symbol, then run the installed strata
# binary with the plugin and check the filter did its work.
set -eu
src=${STRATA_SOURCE_DIR:?}
bld=${STRATA_BUILD_DIR:?}
work=$(mktemp -d /tmp/strata-sdk-XXXXXX)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
pid=

cmake --install "$bld" --prefix "$work/prefix" > "$work/install.log"
cmake -S "$src/sdk/examples/redact" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" \
      -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" > "$work/configure.log"
cmake --build "$work/build" > "$work/build.log"
so="$work/build/strata_filter_redact.so"
test -f "$so"

exports=$(nm -D --defined-only "$so" | awk '$2 == "T" || $2 == "D" || $2 == "B" {print $3}')
if [ "$exports" != "strata_plugin_entry" ]; then
    echo "FAIL: the plugin exports more than its entry symbol: $exports"
    exit 1
fi

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/strata.yaml" <<YAML
service:
  http_listen: 127.0.0.1:$port
  data_dir: $work/data
  plugins_dir: $work/build
pipelines:
  - name: pay
    inputs:
      - {plugin: dummy, rate: 0, total: 500, message: "charged card 4111111111111111 order {seq}"}
    filters:
      - {plugin: redact, min_digits: 12}
    outputs:
      - {plugin: file, path: $work/out.jsonl}
YAML
# the installed binary finds built-in plugins in its ../lib/strata/plugins
env -u STRATA_PLUGIN_PATH "$work/prefix/bin/strata" run "$work/strata.yaml" 2> "$work/strata.log" &
pid=$!
i=0
while [ "$(cat "$work/out.jsonl" 2>/dev/null | wc -l)" -lt 500 ]; do
    i=$((i + 1))
    if [ $i -gt 600 ] || ! kill -0 $pid 2>/dev/null; then
        echo "FAIL: expected 500 events"; cat "$work/strata.log"; exit 1
    fi
    sleep 0.05
done
curl -sf "http://127.0.0.1:$port/metrics" | grep -q 'strata_redact_masked_total{.*} 500' || {
    echo "FAIL: metric strata_redact_masked_total not 500"; curl -s "http://127.0.0.1:$port/metrics" | grep redact; exit 1; }
kill -TERM $pid
wait $pid
pid=
if grep -q 4111111111111111 "$work/out.jsonl"; then
    echo "FAIL: a card number reached the output"; exit 1
fi
grep -q 'charged card ################ order 499' "$work/out.jsonl"
echo "out-of-tree plugin built against the installed SDK, loaded and run: OK"
