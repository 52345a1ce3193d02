#!/usr/bin/env bash
# Propagation (BENCHMARKS.md): a write through flagedge-core's admin API until an
# edge serves it, through each path at once:
#   http      an edge polling core's /api/v1/environment-document/
#   s3        flagedge-sync publishes to S3, an edge polls the manifest
#   dynamodb  flagedge-sync publishes to DynamoDB, an edge polls the manifest item
# Everything runs on loopback: PostgreSQL (initdb into a temporary directory),
# moto's server as S3 and DynamoDB, core, sync and three edges.
#   scripts/propagation.sh          200 changes, release binaries
# Environment: CHANGES (200), POLL_SECS (the edges' --poll-interval-secs, 0.5),
# BIN_DIR (default: build release binaries), OUT (target/bench).
# Exits non-zero when any change never reached an edge.
set -euo pipefail
cd "$(dirname "$0")/.."
CHANGES=${CHANGES:-200}
POLL_SECS=${POLL_SECS:-0.5}
OUT=${OUT:-target/bench}
if [ -z "${BIN_DIR:-}" ]; then
  cargo build --release -q -p flagedge-edge -p flagedge-sync -p flagedge-core -p flagedge-loadtest
  BIN_DIR=${CARGO_TARGET_DIR:-target}/release
fi
python=$(scripts/python-venv.sh)   # moto[server]
moto_server=$(dirname "$python")/moto_server
mkdir -p "$OUT"

work=$(mktemp -d)
chmod 755 "$work"
pids=()
pg_ctl=""
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "$pg_ctl" ] && $as "$pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { # url name
  for _ in $(seq 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done
  echo "$2 did not come up ($1); its log:" >&2; cat "$work/$2.log" >&2; exit 1
}
start() { # name command...
  local name=$1; shift
  "$@" >"$work/$name.log" 2>&1 &
  pids+=($!)
}

# PostgreSQL, as the postgres user when run as root (initdb refuses root).
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
pg_ctl="$pgbin/pg_ctl"
as=""
mkdir "$work/pg"
if [ "$(id -u)" = 0 ]; then
  chown postgres "$work/pg"
  as="runuser -u postgres --"
fi
pg_port=$(free_port)
$as "$pgbin/initdb" -D "$work/pg" -U flagedge --auth=trust -E UTF8 >"$work/initdb.log"
$as "$pg_ctl" -D "$work/pg" -l "$work/pg/server.log" -w \
  -o "-p $pg_port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$work/pg" start >/dev/null
$as "$pgbin/createdb" -h 127.0.0.1 -p "$pg_port" -U flagedge flagedge
export DATABASE_URL="postgres://flagedge@127.0.0.1:$pg_port/flagedge"

moto_port=$(free_port)
start moto "$moto_server" -H 127.0.0.1 -p "$moto_port"
wait_http "http://127.0.0.1:$moto_port/moto-api/" moto
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
aws=(--aws-endpoint-url "http://127.0.0.1:$moto_port")

core_port=$(free_port)
core="http://127.0.0.1:$core_port"
sync_token=propagation-sync-token
admin_key=$("$BIN_DIR/flagedge-core" init --log warn | sed -n 's/^admin API key: //p')
[ -n "$admin_key" ] || { echo "flagedge-core init printed no key" >&2; exit 1; }
start core "$BIN_DIR/flagedge-core" serve --log warn --bind "127.0.0.1:$core_port" --sync-token "$sync_token"
wait_http "$core/ready" core

lt="$BIN_DIR/flagedge-loadtest"
"$lt" propagation setup --core "$core" --admin-key "$admin_key" >"$work/setup.json"
server_key=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["server_key"])' "$work/setup.json")
client_key=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_key"])' "$work/setup.json")

sync_port=$(free_port)
start sync "$BIN_DIR/flagedge-sync" --log warn --bind "127.0.0.1:$sync_port" \
  --core-url "$core" --core-token "$sync_token" \
  --s3-bucket flagedge-propagation --dynamodb-table flagedge_propagation --create-resources true "${aws[@]}"
wait_http "http://127.0.0.1:$sync_port/health" sync

edges=()
start_edge() { # name args...
  local name=$1; shift
  local port
  port=$(free_port)
  start "edge-$name" "$BIN_DIR/flagedge-edge" --log warn --bind "127.0.0.1:$port" \
    --poll-interval-secs "$POLL_SECS" "$@"
  wait_http "http://127.0.0.1:$port/health" "edge-$name"
  edges+=(--edge "$name=http://127.0.0.1:$port")
}
start_edge http --source http --api-url "$core/api/v1/" --environment-key-pair "$server_key=$client_key"
start_edge s3 --source s3 --s3-bucket flagedge-propagation "${aws[@]}"
start_edge dynamodb --source dynamodb --dynamodb-table flagedge_propagation "${aws[@]}"

echo "== propagation: $CHANGES admin-API changes; edges poll every ${POLL_SECS}s"
"$lt" propagation measure --core "$core" --admin-key "$admin_key" --setup "$work/setup.json" \
  "${edges[@]}" --changes "$CHANGES" --json "$OUT/propagation.json"
