#!/bin/sh
# Style and static analysis: clang-format (no diff allowed), cppcheck and
# clang-tidy (.clang-tidy: bug-finding checks) must be quiet.
# Needs a configured build directory for compile_commands.json (default build/).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
bld=${1:-$root/build}
cd "$root"
files=$(git ls-files '*.c' '*.h' | grep -v '^tests/integration/')
echo "clang-format"
clang-format --dry-run -Werror $files
echo "cppcheck"
out=$(cppcheck --enable=warning,performance,portability --std=c11 --quiet --inline-suppr \
      -I lib -I tenants -I core -I segment -I query -I sdk/include --suppress=missingIncludeSystem lib tenants core cli segment query plugins sdk/examples 2>&1)
if [ -n "$out" ]; then echo "$out"; exit 1; fi
echo "clang-tidy"
out=$(clang-tidy -p "$bld" --quiet lib/*.c tenants/*.c core/*.c cli/*.c segment/*.c query/*.c plugins/*/*/*.c sdk/examples/redact/*.c sdk/examples/rollfile/*.c sdk/examples/savedsearch/*.c 2>&1 \
      | grep -E "(warning|error):" || true)
if [ -n "$out" ]; then echo "$out"; exit 1; fi
echo "lint clean"
