#!/usr/bin/env bash
# The standard benchmark runs (BENCHMARKS.md), with flagedge-loadtest, on loopback.
#   scripts/bench.sh [run ...]     runs: flags identities half-peak swap swap-cpu rss rss-scale analytics wrk (default: all)
# rss-scale: RSS_ENVIRONMENTS ("10 100 1000 5000").
# swap-cpu: the edge's CPU time per document swap (a 200-feature document rewritten 100 times,
# 10 a second, no requests), net of the same time idle.
# wrk: Flagsmith's benchmark project (loadtest generate --flagsmith-benchmark), flags and
# identities (5 traits, 10,000 identities, identity cache on), edge vs ceiling measured by wrk
# (-t1 -c64, A B A B) and by flagedge-loadtest compare on the same two processes.
# Environment: ROUNDS (5), SECONDS_PER_RUN (10), WARMUP (2), OUT (target/bench).
# Every throughput figure is a ratio to the ceiling (a bare hyper server returning
# the same bytes) measured alternately in the same run, A B A B; the edge's and
# the ceiling's CPU time per request are reported too. Run on an idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
WARMUP=${WARMUP:-2}
OUT=${OUT:-target/bench}
runs=("$@")
[ ${#runs[@]} -eq 0 ] && runs=(flags identities half-peak swap swap-cpu rss rss-scale analytics wrk)
target=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p flagedge-edge -p flagedge-loadtest
edge="$target/release/flagedge-edge"
lt="$target/release/flagedge-loadtest"
mkdir -p "$OUT"
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
load=(-d "${SECONDS_PER_RUN}s" --warmup "${WARMUP}s" -q)

wait_ready() { # url
  for _ in $(seq "${READY_TRIES:-300}"); do curl -sf "$1/ready" >/dev/null && return 0; sleep 0.1; done
  echo "not ready: $1" >&2; return 1
}
start_edge() { # port args...
  local port=$1; shift
  "$edge" --bind "127.0.0.1:$port" --log warn "$@" >"$work/edge-$port.log" 2>&1 &
  pids+=($!); last_pid=$!
  wait_ready "http://127.0.0.1:$port"
  kill -0 "$last_pid" 2>/dev/null || { echo "the edge on port $port exited:" >&2; cat "$work/edge-$port.log" >&2; exit 1; }
}
start_ceiling() { # port args...
  local port=$1; shift
  "$lt" ceiling --bind "127.0.0.1:$port" "$@" 2>"$work/ceiling-$port.log" &
  pids+=($!); last_pid=$!
  for _ in $(seq 100); do curl -s "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
  kill -0 "$last_pid" 2>/dev/null || { echo "the ceiling on port $port exited:" >&2; cat "$work/ceiling-$port.log" >&2; exit 1; }
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
json() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$@"; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

identity='{"identifier":"user-1","traits":[{"trait_key":"age","trait_value":34},{"trait_key":"plan","trait_value":"pro"},{"trait_key":"country","trait_value":"gb"},{"trait_key":"score","trait_value":42.5},{"trait_key":"beta","trait_value":true}]}'
docs="$work/docs"
"$lt" generate --out "$docs" --environments 3 --features 50 --segments 15 >/dev/null
cp examples/environments/shop.json "$docs/"   # the demo shop, for flags.toml

for run in "${runs[@]}"; do
  case $run in
  flags)
    echo "== GET /api/v1/flags/ (demo shop): edge vs ceiling, $ROUNDS rounds"
    start_edge 8101; edge_pid=$last_pid
    start_ceiling 8102 --fetch http://127.0.0.1:8101/api/v1/flags/ --fetch-header "X-Environment-Key: demo-shop-client-key"; ceiling_pid=$last_pid
    "$lt" compare loadtest/scenarios/flags.toml --a http://127.0.0.1:8101 --b http://127.0.0.1:8102 \
      --a-name edge --b-name ceiling --a-pid "$edge_pid" --b-pid "$ceiling_pid" --rounds "$ROUNDS" "${load[@]}" --json "$OUT/flags.json"
    stop "$ceiling_pid"; stop "$edge_pid"
    ;;
  identities)
    for cache in uncached cached; do
      args=(); [ $cache = uncached ] && args=(--identity-cache-bytes 0)
      echo "== POST /api/v1/identities/, 5 traits, 50 features / 15 segments, identity cache $cache: edge vs ceiling"
      start_edge 8101 --documents-dir "$docs" "${args[@]}"; edge_pid=$last_pid
      start_ceiling 8102 --fetch http://127.0.0.1:8101/api/v1/identities/ --fetch-header "X-Environment-Key: loadtest-env-0" --fetch-body "$identity"; ceiling_pid=$last_pid
      "$lt" compare loadtest/scenarios/identities-5-traits.toml --a http://127.0.0.1:8101 --b http://127.0.0.1:8102 \
        --a-name edge --b-name ceiling --a-pid "$edge_pid" --b-pid "$ceiling_pid" --rounds "$ROUNDS" "${load[@]}" --json "$OUT/identities-$cache.json"
      stop "$ceiling_pid"; stop "$edge_pid"
    done
    ;;
  half-peak)
    start_edge 8101 --documents-dir "$docs"; edge_pid=$last_pid
    for scenario in flags identities-5-traits; do
      echo "== $scenario: closed-loop peak, then open loop at half of it"
      "$lt" run "loadtest/scenarios/$scenario.toml" -t http://127.0.0.1:8101 "${load[@]}" --pid "$edge_pid" --json "$OUT/peak-$scenario.json" | sed -n '1,3p'
      rate=$(json "$OUT/peak-$scenario.json" "round(d['throughput'] / 2)")
      "$lt" run "loadtest/scenarios/$scenario.toml" -t http://127.0.0.1:8101 --rate "$rate" "${load[@]}" --pid "$edge_pid" \
        --json "$OUT/half-peak-$scenario.json" --svg "$OUT/half-peak-$scenario.svg"
    done
    stop "$edge_pid"
    ;;
  swap)
    echo "== identities at half peak: p99 without, then with a document swapped 10 times a second"
    start_edge 8101 --documents-dir "$docs" --file-poll-ms 20; edge_pid=$last_pid
    "$lt" run loadtest/scenarios/identities-5-traits.toml -t http://127.0.0.1:8101 "${load[@]}" --json "$work/peak.json" >/dev/null
    rate=$(json "$work/peak.json" "round(d['throughput'] / 2)")
    "$lt" run loadtest/scenarios/identities-5-traits.toml -t http://127.0.0.1:8101 --rate "$rate" "${load[@]}" \
      --json "$OUT/swap-baseline.json" --svg "$OUT/swap-baseline.svg"
    "$lt" run loadtest/scenarios/identities-5-traits.toml -t http://127.0.0.1:8101 --rate "$rate" "${load[@]}" \
      --rewrite-document "$docs/loadtest-env-0.json" --rewrite-per-sec 10 --json "$OUT/swap.json" --svg "$OUT/swap.svg"
    curl -s http://127.0.0.1:8101/metrics | awk '/^flagedge_document_swaps_total/ {s += $2} /^flagedge_identity_cache_(hits|misses|carried)_total/ {sub("flagedge_identity_cache_", ""); c = c " " $1 "=" $2} END {print "  edge document swaps: " s + 0 "; identity cache:" c}' 
    stop "$edge_pid"
    ;;
  swap-cpu)
    echo "== CPU per document swap: one 200-feature document rewritten 100 times, 10 a second"
    "$lt" generate --out "$work/swap-cpu" --environments 1 --features 200 --segments 15 >/dev/null
    rm -f "$work/swap-cpu/server-keys.json"
    start_edge 8101 --documents-dir "$work/swap-cpu" --file-poll-ms 20; edge_pid=$last_pid
    cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) * 1000 / hz}' "/proc/$1/stat"; }
    idle_from=$(cpu_ms "$edge_pid"); sleep 10; idle_to=$(cpu_ms "$edge_pid")
    python3 - "$work/swap-cpu/loadtest-env-0.json" <<'PY'
import json, os, sys, time
path = sys.argv[1]
document = json.load(open(path))
for i in range(100):
    document["feature_states"][0]["feature_state_value"] = f"swap-{i}"
    document["updated_at"] = f"2026-12-03T12:{i // 60:02d}:{i % 60:02d}.000000+00:00"
    with open(path + ".tmp", "w") as out:
        json.dump(document, out)
    os.replace(path + ".tmp", path)
    time.sleep(0.1)
PY
    sleep 1; busy_to=$(cpu_ms "$edge_pid")
    swaps=$(curl -s http://127.0.0.1:8101/metrics | awk '/^flagedge_document_swaps_total/ {s += $2} END {print s + 0}')
    # The rewrites took ~11 s: subtract 1.1 times the idle 10 s.
    python3 -c "import sys; a, b, c, s = map(float, sys.argv[1:]); i = b - a; print(f'  {s:.0f} swaps: {(c - b - i * 1.1) / max(s, 1):.1f} ms of CPU each (idle: {i:.0f} ms per 10 s)')" \
      "$idle_from" "$idle_to" "$busy_to" "$swaps" | tee "$OUT/swap-cpu.txt"
    stop "$edge_pid"
    ;;
  rss)
    echo "== RSS: 1,000 environments x 200 features"
    "$lt" generate --out "$work/many" --environments 1000 --features 200 --segments 15
    du -sh "$work/many" | sed 's/^/  on disk /'
    start_edge 8101 --documents-dir "$work/many"; edge_pid=$last_pid
    echo "  RSS after loading: $(( $(rss_kb "$edge_pid") / 1024 )) MiB"
    "$lt" run loadtest/scenarios/many-environments.toml -t http://127.0.0.1:8101 "${load[@]}" --pid "$edge_pid" --json "$OUT/rss-load.json"
    echo "  RSS after load: $(( $(rss_kb "$edge_pid") / 1024 )) MiB (VmHWM $(( $(awk '/VmHWM/ {print $2}' "/proc/$edge_pid/status") / 1024 )) MiB)"
    stop "$edge_pid"
    rm -rf "$work/many"
    ;;
  rss-scale)
    # RSS after loading N environments of the rss run's shape, for sizing containers.
    echo "== RSS after loading, by environment count (${RSS_ENVIRONMENTS:=10 100 1000 5000})"
    : >"$OUT/rss-scale.txt"
    for n in $RSS_ENVIRONMENTS; do
      "$lt" generate --out "$work/scale" --environments "$n" --features 200 --segments 15 >/dev/null
      READY_TRIES=6000 start_edge 8101 --documents-dir "$work/scale"; edge_pid=$last_pid
      mib=$(( $(rss_kb "$edge_pid") / 1024 ))
      echo "  $n environments: $mib MiB"
      echo "$n $mib" >>"$OUT/rss-scale.txt"
      stop "$edge_pid"
      rm -rf "$work/scale"
    done
    "$lt" bars --title "flagedge-edge RSS after loading N environments (200 features, 15 segments, 100 identity overrides each)" \
      --description "Resident memory of one edge after loading 10 to 5,000 synthetic environments from a documents directory, before any request." \
      --unit " MiB" <"$OUT/rss-scale.txt" >"$OUT/rss-scale.svg"
    ;;
  analytics)
    echo "== the cost of shipping evaluation counts: analytics sink http (every 1 s, to a local receiver) vs none"
    start_ceiling 8109 --body '{}'; receiver_pid=$last_pid
    start_edge 8101 --documents-dir "$docs" --analytics-sink http --analytics-url http://127.0.0.1:8109/api/v1/analytics/batch --analytics-interval-secs 1; with_pid=$last_pid
    start_edge 8103 --documents-dir "$docs" --analytics-sink none; without_pid=$last_pid
    for scenario in flags identities-5-traits; do
      "$lt" compare "loadtest/scenarios/$scenario.toml" --a http://127.0.0.1:8101 --b http://127.0.0.1:8103 \
        --a-name shipping --b-name none --a-pid "$with_pid" --b-pid "$without_pid" --rounds "$ROUNDS" "${load[@]}" --json "$OUT/analytics-$scenario.json"
    done
    stop "$with_pid"; stop "$without_pid"; stop "$receiver_pid"
    ;;
  wrk)
    command -v wrk >/dev/null || { echo "wrk is not installed (Debian: apt-get install wrk)" >&2; exit 1; }
    "$lt" generate --out "$work/fsb" --flagsmith-benchmark --key-prefix flagsmith-benchmark- >/dev/null
    key=flagsmith-benchmark-0
    # 10,000 identities, each with its own fixed 5 traits (a cache hit after its first request).
    cat >"$work/identities.lua" <<'LUA'
local plans = {"free", "pro", "enterprise"}
request = function()
  local i = math.random(0, 9999)
  local body = string.format('{"identifier":"user-%d","traits":[{"trait_key":"age","trait_value":%d},{"trait_key":"plan","trait_value":"%s"},{"trait_key":"country","trait_value":"gb"},{"trait_key":"score","trait_value":%d.5},{"trait_key":"beta","trait_value":%s}]}',
    i, 13 + i % 77, plans[i % 3 + 1], i % 100, (i % 5 == 0) and "true" or "false")
  return wrk.format("POST", "/api/v1/identities/", {["X-Environment-Key"] = "flagsmith-benchmark-0", ["Content-Type"] = "application/json"}, body)
end
LUA
    first='{"identifier":"user-0","traits":[{"trait_key":"age","trait_value":13},{"trait_key":"plan","trait_value":"free"},{"trait_key":"country","trait_value":"gb"},{"trait_key":"score","trait_value":0.5},{"trait_key":"beta","trait_value":true}]}'
    wrk_rps() { wrk -t1 -c64 -d"$1" "${@:2}" | awk '/Requests\/sec/ {print $2}'; }
    : >"$OUT/wrk.txt"
    for endpoint in flags identities; do
      start_edge 8101 --documents-dir "$work/fsb"; edge_pid=$last_pid
      if [ $endpoint = flags ]; then
        start_ceiling 8102 --fetch http://127.0.0.1:8101/api/v1/flags/ --fetch-header "X-Environment-Key: $key"; ceiling_pid=$last_pid
        args=(-H "X-Environment-Key: $key"); path=/api/v1/flags/
      else
        start_ceiling 8102 --fetch http://127.0.0.1:8101/api/v1/identities/ --fetch-header "X-Environment-Key: $key" --fetch-body "$first"; ceiling_pid=$last_pid
        args=(-s "$work/identities.lua"); path=/api/v1/identities/
      fi
      echo "== wrk -t1 -c64, Flagsmith's benchmark project, $endpoint: edge vs ceiling, $ROUNDS rounds"
      wrk_rps "${WARMUP}s" "${args[@]}" "http://127.0.0.1:8101$path" >/dev/null
      wrk_rps "${WARMUP}s" "${args[@]}" "http://127.0.0.1:8102$path" >/dev/null
      for round in $(seq "$ROUNDS"); do
        a=$(wrk_rps "${SECONDS_PER_RUN}s" "${args[@]}" "http://127.0.0.1:8101$path")
        b=$(wrk_rps "${SECONDS_PER_RUN}s" "${args[@]}" "http://127.0.0.1:8102$path")
        ratio=$(python3 -c "print(f'{$a / $b:.3f}')")
        echo "  round $round: edge $a req/s, ceiling $b req/s, ratio $ratio"
        echo "$endpoint $round $a $b $ratio" >>"$OUT/wrk.txt"
      done
      echo "== the same two processes measured by flagedge-loadtest compare"
      "$lt" compare "loadtest/scenarios/flagsmith-benchmark-$endpoint.toml" --a http://127.0.0.1:8101 --b http://127.0.0.1:8102 \
        --a-name edge --b-name ceiling --a-pid "$edge_pid" --b-pid "$ceiling_pid" --rounds "$ROUNDS" "${load[@]}" --json "$OUT/wrk-harness-$endpoint.json"
      stop "$ceiling_pid"; stop "$edge_pid"
    done
    ;;
  *) echo "unknown run: $run" >&2; exit 2 ;;
  esac
done
echo "results: $OUT"
