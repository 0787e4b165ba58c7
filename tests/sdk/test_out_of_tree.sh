#!/bin/sh
# The SDK as a third party uses it: install Strata to a temporary prefix,
# build sdk/examples/redact and sdk/examples/rollfile out of tree against
# that install, check that each exports only its entry symbol, then run the
# installed strata binary with them: the filter does its work, and the
# durable output holds every event exactly once across a restart, with the
# WAL emptied at a clean stop because the output committed.
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
"$work/prefix/bin/strata" plugins --check "$so" | grep -qx OK || {
    echo "FAIL: strata plugins --check does not say OK"; "$work/prefix/bin/strata" plugins --check "$so"; exit 1; }

# the guide and the examples are installed beside the headers
for f in PLUGINS.md README.md examples/redact/redact.c; do
    test -f "$work/prefix/share/doc/strata/sdk/$f" || { echo "FAIL: $f not installed"; exit 1; }
done

# the package version is the plugin ABI's: 1.<this minor> is found, 2.0 is not
abi=$(sed -n 's/^#define STRATA_ABI_MAJOR \([0-9]*\)$/\1/p' "$src/sdk/include/strata/abi.h").$(sed -n 's/^#define STRATA_ABI_MINOR \([0-9]*\)$/\1/p' "$src/sdk/include/strata/abi.h")
mkdir -p "$work/v2"
printf 'cmake_minimum_required(VERSION 3.16)\nproject(v C)\nfind_package(Strata 2.0 REQUIRED)\n' > "$work/v2/CMakeLists.txt"
if cmake -S "$work/v2" -B "$work/v2/b" -DCMAKE_PREFIX_PATH="$work/prefix" > "$work/v2.log" 2>&1; then
    echo "FAIL: find_package(Strata 2.0) accepted an SDK of ABI $abi"; exit 1
fi
grep -q "$abi" "$work/v2.log" || { echo "FAIL: the refusal does not name version $abi"; cat "$work/v2.log"; exit 1; }

# pkg-config: relocatable (the prefix is where the .pc file is, even after
# the tree moves) and its flags build a plugin that exports its entry only
mv "$work/prefix" "$work/moved"
pc() { PKG_CONFIG_PATH="$work/moved/lib/pkgconfig" pkg-config "$@" strata-sdk; }
test "$(pc --modversion)" = "$abi" || { echo "FAIL: pkg-config version $(pc --modversion), ABI $abi"; exit 1; }
case "$(pc --cflags)" in *"$work/moved/"*include*) ;; *) echo "FAIL: cflags $(pc --cflags)"; exit 1 ;; esac
# shellcheck disable=SC2046
mkdir -p "$work/pc"
cc -shared -fPIC -std=c11 -Wall -Werror $(pc --cflags) -o "$work/pc/strata_filter_redact.so" \
   "$src/sdk/examples/redact/redact.c" $(pc --libs)
exports=$(nm -D --defined-only "$work/pc/strata_filter_redact.so" | awk '$2 == "T" || $2 == "D" || $2 == "B" {print $3}')
test "$exports" = "strata_plugin_entry" || { echo "FAIL: pkg-config build exports: $exports"; exit 1; }
mv "$work/moved" "$work/prefix"

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

# the durable output example: WAL -> rollfile (PENDING, fdatasync, commit)
cmake -S "$src/sdk/examples/rollfile" -B "$work/roll" -DCMAKE_PREFIX_PATH="$work/prefix" \
      -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" > "$work/roll-configure.log"
cmake --build "$work/roll" > "$work/roll-build.log"
roll="$work/roll/strata_output_rollfile.so"
exports=$(nm -D --defined-only "$roll" | awk '$2 == "T" || $2 == "D" || $2 == "B" {print $3}')
test "$exports" = "strata_plugin_entry" || { echo "FAIL: rollfile exports: $exports"; exit 1; }
roll_config() {  # $1: events the dummy input sends, $2: their message
    cat > "$work/roll.yaml" <<YAML
service:
  http_listen: 127.0.0.1:$port
  data_dir: $work/rdata
  plugins_dir: $work/roll
pipelines:
  - name: arch
    buffer: wal
    inputs:
      - {plugin: dummy, rate: 0, total: $1, message: "$2 {seq}"}
    outputs:
      - {plugin: rollfile, dir: $work/archive, max_file_bytes: 64KiB, commit_interval: 50ms}
YAML
}
lines() { cat "$work"/archive/events-*.jsonl 2>/dev/null | wc -l; }
roll_run() {  # run until $1 lines are in the archive, then stop cleanly
    env -u STRATA_PLUGIN_PATH "$work/prefix/bin/strata" run "$work/roll.yaml" 2>> "$work/roll.log" &
    pid=$!
    i=0
    while [ "$(lines)" -lt "$1" ]; do
        i=$((i + 1))
        if [ $i -gt 600 ] || ! kill -0 $pid 2>/dev/null; then
            echo "FAIL: expected $1 archived events, have $(lines)"; cat "$work/roll.log"; exit 1
        fi
        sleep 0.05
    done
    kill -TERM $pid
    wait $pid
    pid=
}
roll_config 3000 "archived event"
roll_run 3000
test "$(lines)" -eq 3000 || { echo "FAIL: $(lines) lines after the first run, not 3000"; exit 1; }
files=$(ls "$work"/archive/events-*.jsonl | wc -l)
test "$files" -gt 1 || { echo "FAIL: the archive did not roll over ($files file)"; exit 1; }
dups=$(cat "$work"/archive/events-*.jsonl | sed -n 's/.*archived event \([0-9]*\).*/\1/p' | sort | uniq -d | wc -l)
test "$dups" -eq 0 || { echo "FAIL: $dups events archived twice"; exit 1; }
# the output committed everything at stop: the WAL keeps no consumed bytes
walbytes=$(cat "$work"/rdata/wal/arch/*.wal 2>/dev/null | wc -c)
test "$walbytes" -lt 4096 || { echo "FAIL: the WAL still holds $walbytes bytes after a clean stop"; ls -l "$work/rdata/wal/arch"; exit 1; }
# a restart takes up at the committed position: nothing is written twice
roll_config 1 "after restart"
roll_run 3001
test "$(lines)" -eq 3001 || { echo "FAIL: $(lines) lines after the restart, not 3001"; exit 1; }
grep -q "after restart 0" "$work"/archive/events-*.jsonl
echo "out-of-tree plugins built against the installed SDK, loaded and run: OK"
