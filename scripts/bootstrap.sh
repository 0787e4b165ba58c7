#!/bin/sh
# Install from Debian 12 what Strata needs, skipping what is already there.
# Run as root (or it uses sudo).
#   scripts/bootstrap.sh [run] [test] [bench]   (no argument: all three)
#     run    build and run Strata (scripts/start.sh asks for this only)
#     test   the test suite: sanitizers, fuzzing, ABI check, leak check,
#            metrics lint, clang-format, clang-tidy, cppcheck
#     bench  the benchmark peers of bench/ (ripgrep, SQLite FTS5,
#            PostgreSQL, ClickHouse) and what building Fluent Bit needs
set -eu
SUDO=
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
want=${*:-run test bench}
# build and run: the compiler, CMake and the -dev libraries Strata links
RUN="build-essential cmake pkg-config libev-dev libyaml-dev libhttp-parser-dev libpcre2-dev zlib1g-dev libzstd-dev libsqlite3-dev libssl-dev libroaring-dev libxxhash-dev libcjson-dev libcurl4-openssl-dev"
# tests: unit tests, sanitizers, fuzzing, ABI check, leak check, metrics lint; lint
TEST="libcmocka-dev clang libclang-rt-14-dev llvm abigail-tools valgrind python3 curl prometheus clang-format clang-tidy cppcheck"
# benchmarks: Fluent Bit's build (bench/pipeline), zstd, and the search peers
BENCH="flex bison zstd ripgrep postgresql postgresql-contrib python3-psycopg2 clickhouse-server clickhouse-client"
PKGS=
for w in $want; do
    case $w in
    run) PKGS="$PKGS $RUN" ;;
    test) PKGS="$PKGS $RUN $TEST" ;;
    bench) PKGS="$PKGS $RUN $BENCH" ;;
    *) echo "bootstrap.sh: unknown profile '$w' (run, test, bench)" >&2; exit 2 ;;
    esac
done
missing=
for p in $PKGS; do
    case " $missing " in *" $p "*) continue ;; esac
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing:$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing > /tmp/strata-apt.log 2>&1 \
        || { tail -30 /tmp/strata-apt.log; exit 1; }
fi
echo "dependencies present ($want)"
