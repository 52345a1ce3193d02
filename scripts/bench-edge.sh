#!/usr/bin/env bash
# Benchmarks the edge next to a bare hyper server returning the same bytes, on
# loopback, alternating A B A B, and prints each pair's ratio.
#   scripts/bench-edge.sh [rounds] [seconds]
# Needs wrk (Debian package `wrk`). Results depend on the machine: run on an idle one.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
seconds=${2:-10}
target=${CARGO_TARGET_DIR:-target}
cargo build --release -q -p flagedge-edge --bin flagedge-edge --example ceiling
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT

"$target/release/flagedge-edge" --bind 127.0.0.1:8101 --log warn >/dev/null &
for _ in $(seq 100); do curl -sf http://127.0.0.1:8101/ready >/dev/null && break; sleep 0.1; done

key=demo-shop-client-key
curl -sf -H "X-Environment-Key: $key" http://127.0.0.1:8101/api/v1/flags/ > "$work/flags.json"
identity='{"identifier":"user-42","traits":[{"trait_key":"plan","trait_value":"pro"},{"trait_key":"age","trait_value":34},{"trait_key":"email","trait_value":"u42@example.com"},{"trait_key":"country","trait_value":"gb"},{"trait_key":"beta","trait_value":true}]}'
curl -sf -H "X-Environment-Key: $key" -H 'Content-Type: application/json' -d "$identity" http://127.0.0.1:8101/api/v1/identities/ > "$work/identity.json"
cat > "$work/identity.lua" <<LUA
wrk.method = "POST"
wrk.body = '$identity'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-Environment-Key"] = "$key"
LUA

run() { # name url [wrk args...]
  local name=$1 url=$2; shift 2
  wrk -t1 -c64 -d"${seconds}s" --latency "$@" "$url" > "$work/$name.out"
  awk '/Requests\/sec/ {print $2}' "$work/$name.out"
}

for scenario in flags identity; do
  "$target/release/examples/ceiling" 127.0.0.1:8102 "$work/$scenario.json" 2>/dev/null &
  ceiling_pid=$!
  sleep 0.3
  if [ "$scenario" = flags ]; then
    edge_args=(-H "X-Environment-Key: $key")
    path=/api/v1/flags/
  else
    edge_args=(-s "$work/identity.lua")
    path=/api/v1/identities/
  fi
  echo "== $scenario: edge vs bare hyper (same bytes), wrk -t1 -c64 -d${seconds}s"
  for round in $(seq "$rounds"); do
    edge=$(run "edge-$scenario-$round" "http://127.0.0.1:8101$path" "${edge_args[@]}")
    bare=$(run "bare-$scenario-$round" "http://127.0.0.1:8102$path" "${edge_args[@]}")
    p99=$(awk '/ 99%/ {print $2}' "$work/edge-$scenario-$round.out")
    printf 'round %d  edge %10.0f req/s  bare %10.0f req/s  ratio %.3f  edge p99 %s\n' \
      "$round" "$edge" "$bare" "$(echo "$edge / $bare" | bc -l)" "$p99"
  done
  kill $ceiling_pid; wait $ceiling_pid 2>/dev/null || true
done
