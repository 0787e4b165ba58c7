#!/bin/sh
# Build the libFuzzer targets with clang and run each for a bounded time.
#   tests/fuzz/run.sh [SECONDS_PER_TARGET]   (default 30)
# Crashes are written to build-fuzz/crash-*; a crash fails the script.
set -eu
secs=${1:-30}
root=$(cd "$(dirname "$0")/../.." && pwd)
bld="$root/build-fuzz"
CC=clang cmake -S "$root" -B "$bld" -DSTRATA_FUZZ=ON -DCMAKE_BUILD_TYPE=Debug > "$bld.log" 2>&1 || { cat "$bld.log"; exit 1; }
cmake --build "$bld" --target fuzz_config_yaml fuzz_batch_decode fuzz_http_request fuzz_wal_segment fuzz_ingest_json fuzz_segment_reader fuzz_segment_merge fuzz_tokenize fuzz_query fuzz_search_request -j2 >> "$bld.log" 2>&1 || { tail -50 "$bld.log"; exit 1; }
status=0
for t in config_yaml batch_decode http_request wal_segment ingest_json segment_reader segment_merge tokenize query search_request; do
    work="$bld/corpus-$t"
    mkdir -p "$work"
    echo "fuzzing $t for ${secs}s"
    if ! (cd "$bld" && ASAN_OPTIONS=detect_leaks=1 "./tests/fuzz/fuzz_$t" -max_total_time="$secs" \
            -max_len=65536 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
            "$work" "$root/tests/fuzz/corpus/$t" > "$bld/fuzz_$t.log" 2>&1); then
        echo "FAIL: fuzz_$t found a problem:"; tail -60 "$bld/fuzz_$t.log"; status=1
    else
        grep -E "stat::number_of_executed_units|stat::peak_rss_mb" "$bld/fuzz_$t.log" | tr '\n' ' '; echo
    fi
done
exit $status
