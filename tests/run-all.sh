#!/bin/sh
# The whole test suite, as CI runs it:
#   1. release build (gcc, -Werror) + every ctest test (unit, integration,
#      SDK out-of-tree, ABI guard)
#   2. lint (clang-format, cppcheck, clang-tidy) and a clang build with -Werror
#   3. AddressSanitizer + UBSan build + every ctest test
#   4. the integration tests again under valgrind (leaks fail them)
#   5. each fuzz target for FUZZ_SECONDS (default 30)
#   6. the benchmarks in smoke mode (they must run; speed is not judged)
# Stops at the first failing stage. Installs the test tools it lacks first
# (scripts/bootstrap.sh test); the benchmark peers are .ci/run's to install.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
scripts/bootstrap.sh test
jobs=$(nproc)
stage() { printf '\n==== %s ====\n' "$*"; }

stage "release build + ctest"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j1)

stage "lint: clang-format, cppcheck, clang-tidy"
scripts/lint.sh build

stage "clang build (-Werror)"
CC=clang cmake -S . -B build-clang -DCMAKE_BUILD_TYPE=Debug > /dev/null
cmake --build build-clang -j"$jobs"

stage "ASan + UBSan build + ctest"
cmake -S . -B build-asan -DSTRATA_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug > /dev/null
cmake --build build-asan -j"$jobs"
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 ctest --output-on-failure -j1)

stage "integration tests under valgrind"
(cd tests/integration && STRATA_VALGRIND=1 STRATA_BIN="$root/build/strata" \
    STRATA_PLUGIN_PATH="$root/build/plugins" STRATA_TEST_PLUGINS="$root/build/tests/plugins" \
    python3 -m unittest test_pipeline test_reload test_http test_ingest \
    test_indexer.IndexerTest.test_events_become_segments_exactly_once_across_restarts \
    test_indexer.IndexerTest.test_compaction_reaches_l3_with_counts_exact \
    test_search.TenantsAndCliTest test_search.ErrorsAndLimitsTest.test_bad_requests_say_what_is_wrong)

stage "fuzzing (${FUZZ_SECONDS:-30}s per target)"
tests/fuzz/run.sh "${FUZZ_SECONDS:-30}"

stage "benchmarks (smoke: they must run; speed is not judged)"
bench/run --smoke --no-install --out "$root/build/bench-smoke"

echo
echo "all stages passed"
