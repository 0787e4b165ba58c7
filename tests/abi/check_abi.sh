#!/bin/sh
# ABI guard: compare the SDK's types (recorded through abi_probe.so) with
# the committed baseline. abidiff exit bits: 4 = ABI changed (e.g. a table
# grew), 8 = incompatible change. Only the latter fails: growing a table at
# its end is the documented way to evolve ABI 1.x.
# To record a new baseline after a deliberate major bump:
#   abidw --no-corpus-path PROBE.so > sdk/abi/strata-abi-N.xml
set -u
probe=$1
baseline=$2
if [ ! -f "$baseline" ]; then
    echo "no ABI baseline at $baseline; create it with: abidw --no-corpus-path $probe > $baseline"
    exit 1
fi
tmp=$(mktemp)
abidw --no-corpus-path "$probe" > "$tmp" || exit 1
abidiff --harmless "$baseline" "$tmp" > "$tmp.diff" 2>&1
rc=$?
cat "$tmp.diff"
rm -f "$tmp" "$tmp.diff"
if [ $((rc & 8)) -ne 0 ] || [ $((rc & 1)) -ne 0 ] || [ $((rc & 2)) -ne 0 ]; then
    echo "FAIL: the SDK ABI changed incompatibly (abidiff exit $rc); see docs/PLUGINS.md"
    exit 1
fi
echo "ABI compatible with $(basename "$baseline") (abidiff exit $rc)"
exit 0
