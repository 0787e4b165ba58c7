#!/bin/sh
# Install what is missing, build Strata, and run it with the example pipeline.
# Point curl at http://127.0.0.1:7070/metrics (or /health, /v1/plugins).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/bootstrap.sh"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$root/build" -j"$(nproc)"
exec "$root/build/strata" run "${1:-$root/conf.d/examples/dummy.yaml}"
