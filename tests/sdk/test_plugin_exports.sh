#!/bin/sh
# Every built-in plugin exports exactly one symbol, its entry: checked the
# way the host checks it (`strata plugins --check`, which counts a loaded
# plugin's dynamic exports), and by nm for a second opinion. A plugin that
# exports more is loaded with a warning naming a symbol (exit 1).
set -eu
bld=${STRATA_BUILD_DIR:?}
bin=${STRATA_BIN:-$bld/strata}
n=0
for so in "$bld"/plugins/strata_*.so; do
    out=$("$bin" plugins --check "$so") || { echo "FAIL: $so: $out"; exit 1; }
    echo "$out" | grep -qx OK || { echo "FAIL: $so: $out"; exit 1; }
    exports=$(nm -D --defined-only "$so" | awk '$2 ~ /^[TDBRVWi]$/ {print $3}')
    test "$exports" = "strata_plugin_entry" || { echo "FAIL: $so exports: $exports"; exit 1; }
    n=$((n + 1))
done
test "$n" -ge 11 || { echo "FAIL: only $n built-in plugins found in $bld/plugins"; exit 1; }
set +e
out=$("$bin" plugins --check "$bld/tests/plugins/strata_output_leaky.so")
rc=$?
set -e
test $rc -eq 1 || { echo "FAIL: a leaky plugin gave exit $rc: $out"; exit 1; }
echo "$out" | grep -q "exports 2 symbols (leaky_helper among them)" || { echo "FAIL: $out"; exit 1; }
echo "$n built-in plugins export their entry only"
