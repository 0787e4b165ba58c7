#!/bin/sh
# Install what is missing, build Strata, and start the single node
# (`strata serve`: POST /v1/ingest -> WAL -> archive) on 127.0.0.1:7070.
# The first start prints an ingest key and a user token (also saved in
# ./strata-data/credentials.json). Then, for example:
#   curl -H "Authorization: Bearer <ingest key>" -XPOST http://127.0.0.1:7070/v1/ingest \
#        -d '{"source":{"service":"api"},"logs":[{"level":"INFO","msg":"hello"}]}'
#   curl http://127.0.0.1:7070/metrics
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
"$root/scripts/bootstrap.sh" run
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$root/build" -j"$(nproc)"
exec "$root/build/strata" serve "$@"
