#!/bin/sh
# Install what building, testing and benchmarking Strata needs on Debian 12,
# skipping what is already there. Run as root (or it uses sudo).
set -eu
SUDO=
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
# build
PKGS="build-essential cmake pkg-config libev-dev libyaml-dev libhttp-parser-dev libpcre2-dev zlib1g-dev libzstd-dev libsqlite3-dev libssl-dev libroaring-dev libxxhash-dev libcjson-dev libcurl4-openssl-dev"
# tests: unit tests, sanitizers, fuzzing, ABI check, leak check, metrics lint
PKGS="$PKGS libcmocka-dev clang libclang-rt-14-dev llvm abigail-tools valgrind python3 curl prometheus"
# lint: formatting and static analysis
PKGS="$PKGS clang-format clang-tidy cppcheck"
# benchmarks (bench/pipeline builds Fluent Bit from source when given its tree)
PKGS="$PKGS flex bison libssl-dev libsqlite3-dev zstd libcjson-dev"
# benchmark peers (bench/search): ripgrep, SQLite FTS5 (Python sqlite3), PostgreSQL, ClickHouse
PKGS="$PKGS ripgrep postgresql postgresql-contrib python3-psycopg2 clickhouse-server clickhouse-client"
missing=
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "installing:$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing > /tmp/strata-apt.log 2>&1 \
        || { tail -30 /tmp/strata-apt.log; exit 1; }
fi
echo "dependencies present"
