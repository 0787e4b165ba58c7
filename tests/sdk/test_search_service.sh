#!/bin/sh
# The search service as a third-party query plugin uses it: install Strata
# to a temporary prefix, build sdk/examples/savedsearch out of tree against
# that install (it links cJSON and none of Strata's libraries), run the
# installed binary with http -> indexer + search + two saved searches, and
# check what a user sees: the counts by service and the newest logs at
# GET /v1/saved/NAME and as gauges in /metrics (promtool-clean), the
# parse error of a broken saved query with its column, and the refusal
# when no search plugin runs. A search on a fresh node answers at once
# even with wait_visible: 1h (nothing was written, so nothing is waited for).
set -eu
src=${STRATA_SOURCE_DIR:?}
bld=${STRATA_BUILD_DIR:?}
work=$(mktemp -d /tmp/strata-search-svc-XXXXXX)
pid=
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT INT TERM

cmake --install "$bld" --prefix "$work/prefix" > "$work/install.log"
cmake -S "$src/sdk/examples/savedsearch" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" \
      -DCMAKE_C_FLAGS="-Wall -Wextra -Werror" > "$work/configure.log"
cmake --build "$work/build" > "$work/build.log"
so="$work/build/strata_query_savedsearch.so"
exports=$(nm -D --defined-only "$so" | awk '$2 == "T" || $2 == "D" || $2 == "B" {print $3}')
test "$exports" = "strata_plugin_entry" || { echo "FAIL: savedsearch exports: $exports"; exit 1; }
if nm -D --undefined-only "$so" | grep -q ' seg_\| q_\| catalog_'; then
    echo "FAIL: savedsearch links Strata internals"; nm -D --undefined-only "$so"; exit 1
fi
"$work/prefix/bin/strata" plugins --check "$so" | grep -qx OK
test -f "$work/prefix/share/doc/strata/sdk/examples/savedsearch/savedsearch.c"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
config() {  # $1: the search plugin's line, or nothing
    cat > "$work/s.yaml" <<YAML
service:
  http_listen: 127.0.0.1:$port
  data_dir: $work/data
  plugins_dir: $work/build
pipelines:
  - name: ingest
    buffer: {type: wal}
    inputs:
      - {plugin: http}
    outputs:
      - {plugin: indexer, flush_interval: 300ms}
    queries:
      $1
      - {plugin: savedsearch, name: errors, query: "level:error", interval: 200ms, window: 1h}
      - {plugin: savedsearch, name: broken, query: "(timeout", interval: 200ms}
YAML
}
start() {
    env -u STRATA_PLUGIN_PATH "$work/prefix/bin/strata" run "$work/s.yaml" >> "$work/strata.log" 2>&1 &
    pid=$!
    i=0
    until curl -sf "$url/ready" > /dev/null; do
        i=$((i + 1))
        if [ $i -gt 200 ] || ! kill -0 $pid 2>/dev/null; then
            echo "FAIL: strata did not start"; cat "$work/strata.log"; exit 1
        fi
        sleep 0.05
    done
}
stop() {
    kill -TERM $pid
    wait $pid || { echo "FAIL: strata exited with $?"; cat "$work/strata.log"; exit 1; }
    pid=
}
# poll GET $1 until the Python expression $2 over its JSON `j` holds (10 s)
until_json() {
    i=0
    while ! curl -sf "$url$1" | python3 -c "import json,sys; j=json.load(sys.stdin); sys.exit(0 if ($2) else 1)" 2>/dev/null; do
        i=$((i + 1))
        if [ $i -gt 100 ]; then
            echo "FAIL: GET $1 never satisfied: $2"; curl -s "$url$1"; echo; cat "$work/strata.log"; exit 1
        fi
        sleep 0.1
    done
}

config "- {plugin: search, wait_visible: 1h}"
start
# a fresh node: nothing was written, so nothing is waited for
r=$(curl -sf --max-time 20 -XPOST "$url/v1/search" -d '{"query":"boom"}') || {
    echo "FAIL: a search on a fresh node did not answer within 20 s"; exit 1; }
echo "$r" | grep -q '"hits":0' || { echo "FAIL: fresh search: $r"; exit 1; }
until_json /v1/saved/errors 'j["groups"] == {} and j["hits"] == 0 and "error" not in j'

curl -sf -XPOST "$url/v1/ingest" -d '{"logs":[
  {"service":"api","level":"error","msg":"boom one"},
  {"service":"api","level":"error","msg":"boom two"},
  {"service":"db","level":"error","msg":"slow query"},
  {"service":"db","level":"info","msg":"fine"}]}' > /dev/null
until_json /v1/saved/errors 'j["groups"] == {"api": 2, "db": 1} and j["hits"] == 3 and sorted(l["msg"] for l in j["latest"]) == ["boom one", "boom two", "slow query"]'
until_json /v1/saved/broken "\"column 9: expected ')' to close the '(' at column 1\" in j[\"error\"] and j[\"error\"].startswith(\"status 400\")"
metrics=$(curl -sf "$url/metrics")
echo "$metrics" | grep -q 'savedsearch_matches{.*instance="errors",service="api"} 2' || {
    echo "FAIL: no gauge for api"; echo "$metrics" | grep savedsearch; exit 1; }
echo "$metrics" | grep -q 'savedsearch_runs_total{.*instance="broken",outcome="error"}' || {
    echo "FAIL: the broken search's runs are not counted as errors"; exit 1; }
echo "$metrics" | promtool check metrics || { echo "FAIL: promtool check metrics"; exit 1; }
# a new event is counted by the next run, from the head or a segment alike
curl -sf -XPOST "$url/v1/ingest" -d '{"logs":[{"service":"api","level":"error","msg":"boom three"}]}' > /dev/null
until_json /v1/saved/errors 'j["groups"] == {"api": 3, "db": 1} and j["hits"] == 4'
stop

# without a search plugin the saved search says why it has nothing
config ""
start
until_json /v1/saved/errors '"the search service is not running" in j.get("error", "")'
stop
echo "a third-party query plugin searched and aggregated through the search service: OK"
