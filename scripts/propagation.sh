#!/usr/bin/env bash
# Propagation (BENCHMARKS.md): a write through flagedge-core's admin API until an
# edge serves it, through each path at once:
#   http      an edge reading core's /api/v1/environment-document/, pushed by
#             core's change feed (/api/v1/edge/changes, its server-side key)
#   s3        flagedge-sync publishes to S3; the edge, pushed by sync's change
#             stream (/api/v1/changes), reads the manifest and the document
#   dynamodb  the same through DynamoDB
# Every edge also polls every POLL_SECS (the safety net). Everything runs on
# loopback: PostgreSQL (initdb into a temporary directory), moto's server as S3
# and DynamoDB, core, sync and three edges.
#   scripts/propagation.sh          200 changes, release binaries
# Environment: CHANGES (200), POLL_SECS (the edges' --poll-interval-secs, 10),
# PUSH (true; false: polling only), TIMEOUT (a change not served within it is
# lost: 3s, below the poll interval, so only push can meet it; with PUSH=false
# it becomes POLL_SECS + 5 s), FOLLOWERS (0; N: hold N more followers of sync's stream
# and N of core's feed, and report core's and sync's CPU and memory idle and
# during the changes), BIN_DIR (default: build release binaries), OUT (target/bench).
# REGIONS=1 (needs root and iproute2): simulated regions. PostgreSQL and core run in
# one network namespace, moto, sync and the edges in another (a region), joined by a
# veth pair; the region reaches core only through `flagedge-loadtest delay`, a relay
# in the region adding DELAY_MS (40) each way (this kernel has no `tc netem`:
# CONFIG_NET_SCH_NETEM is not set). The measuring harness stays in the root
# namespace, reaching each side over its own undelayed veth pair. All of it is
# virtual links on this machine; the namespaces go when the script ends.
# Exits non-zero when any change never reached an edge.
set -euo pipefail
cd "$(dirname "$0")/.."
CHANGES=${CHANGES:-200}
POLL_SECS=${POLL_SECS:-10}
PUSH=${PUSH:-true}
FOLLOWERS=${FOLLOWERS:-0}
if [ "$PUSH" = true ]; then TIMEOUT=${TIMEOUT:-3s}; else TIMEOUT=${TIMEOUT:-$(python3 -c "print(float('$POLL_SECS') + 5)")s}; fi
OUT=${OUT:-target/bench}
REGIONS=${REGIONS:-0}
DELAY_MS=${DELAY_MS:-40}
if [ -z "${BIN_DIR:-}" ]; then
  cargo build --release -q -p flagedge-edge -p flagedge-sync -p flagedge-core -p flagedge-loadtest
  BIN_DIR=${CARGO_TARGET_DIR:-target}/release
fi
python=$(scripts/python-venv.sh)   # moto[server]
moto_server=("$python" scripts/moto-server.py)   # each request atomic, as on AWS
mkdir -p "$OUT"

work=$(mktemp -d)
chmod 755 "$work"
pids=()
pg_ctl=""
# Where each side runs and how the others reach it.
in_core=() in_region=()
core_host=127.0.0.1          # core and PostgreSQL, from the harness
region_host=127.0.0.1        # moto, sync and the edges, from the harness
listen=127.0.0.1
namespaces=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "$pg_ctl" ] && "${in_core[@]}" $as "$pg_ctl" -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
  for ns in "${namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

if [ "$REGIONS" = 1 ]; then
  # root ─(10.201.0.0/24)─ core ns ─(10.203.0.0/24; the region relays through DELAY_MS each way)─ region ns ─(10.202.0.0/24)─ root
  core_ns=flagedge-core-$$ region_ns=flagedge-region-$$
  namespaces=("$core_ns" "$region_ns")
  ip netns add "$core_ns"; ip netns add "$region_ns"
  in_core=(ip netns exec "$core_ns") in_region=(ip netns exec "$region_ns")
  "${in_core[@]}" ip link set lo up; "${in_region[@]}" ip link set lo up
  link() { # root-side-name ns ns-side-name subnet
    ip link add "$1" type veth peer name "$3" netns "$2"
    ip addr add "10.$4.0.1/24" dev "$1"; ip link set "$1" up
    ip netns exec "$2" ip addr add "10.$4.0.2/24" dev "$3"; ip netns exec "$2" ip link set "$3" up
  }
  link "fec$$" "$core_ns" c0 201
  link "fer$$" "$region_ns" r0 202
  ip link add x0 netns "$core_ns" type veth peer name x1 netns "$region_ns"
  "${in_core[@]}" ip addr add 10.203.0.1/24 dev x0; "${in_core[@]}" ip link set x0 up
  "${in_region[@]}" ip addr add 10.203.0.2/24 dev x1; "${in_region[@]}" ip link set x1 up
  core_host=10.201.0.2 region_host=10.202.0.2 listen=0.0.0.0
fi

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
start_in_core() { local name=$1; shift; start "$name" "${in_core[@]}" "$@"; }
start_in_region() { local name=$1; shift; start "$name" "${in_region[@]}" "$@"; }

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
# Simulated regions reach PostgreSQL over the namespaces' own addresses.
[ "$REGIONS" = 1 ] && echo "host all all 10.201.0.0/16 trust" >>"$work/pg/pg_hba.conf"
"${in_core[@]}" $as "$pg_ctl" -D "$work/pg" -l "$work/pg/server.log" -w \
  -o "-p $pg_port -c listen_addresses=$listen -c unix_socket_directories=$work/pg" start >/dev/null
$as "$pgbin/createdb" -h "$core_host" -p "$pg_port" -U flagedge flagedge
export DATABASE_URL="postgres://flagedge@$core_host:$pg_port/flagedge"

moto_port=$(free_port)
start_in_region moto "${moto_server[@]}" -H "$listen" -p "$moto_port"
wait_http "http://$region_host:$moto_port/moto-api/" moto
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
aws=(--aws-endpoint-url "http://127.0.0.1:$moto_port")   # from inside the region

core_port=$(free_port)
core="http://$core_host:$core_port"
core_in_region="http://127.0.0.1:$core_port"
if [ "$REGIONS" = 1 ]; then
  # Inside the region, core's port is the relay: DELAY_MS each way to the real core.
  relay_port=$(free_port)
  start_in_region relay "$BIN_DIR/flagedge-loadtest" delay --listen "127.0.0.1:$relay_port" \
    --to "10.203.0.1:$core_port" --delay "${DELAY_MS}ms"
  core_in_region="http://127.0.0.1:$relay_port"
fi
sync_token=propagation-sync-token
admin_key=$("$BIN_DIR/flagedge-core" init --log warn | sed -n 's/^admin API key: //p')
[ -n "$admin_key" ] || { echo "flagedge-core init printed no key" >&2; exit 1; }
start_in_core core "$BIN_DIR/flagedge-core" serve --log warn --bind "$listen:$core_port" --sync-token "$sync_token"
core_pid=${pids[-1]}
wait_http "$core/ready" core

lt="$BIN_DIR/flagedge-loadtest"
"$lt" propagation setup --core "$core" --admin-key "$admin_key" >"$work/setup.json"
server_key=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["server_key"])' "$work/setup.json")
client_key=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_key"])' "$work/setup.json")

sync_port=$(free_port)
edge_token=propagation-edge-token
start_in_region sync "$BIN_DIR/flagedge-sync" --log warn --bind "$listen:$sync_port" \
  --core-url "$core_in_region" --core-token "$sync_token" --ingest-token "$edge_token" \
  --s3-bucket flagedge-propagation --dynamodb-table flagedge_propagation --create-resources true "${aws[@]}"
sync_pid=${pids[-1]}
wait_http "http://$region_host:$sync_port/health" sync

edges=()
start_edge() { # name args...
  local name=$1; shift
  local port
  port=$(free_port)
  start_in_region "edge-$name" "$BIN_DIR/flagedge-edge" --log warn --bind "$listen:$port" \
    --poll-interval-secs "$POLL_SECS" --push "$PUSH" "$@"
  wait_http "http://$region_host:$port/health" "edge-$name"
  edges+=(--edge "$name=http://$region_host:$port")
}
start_edge http --source http --api-url "$core_in_region/api/v1/" --environment-key-pair "$server_key=$client_key"
stream=(--push-url "http://127.0.0.1:$sync_port/api/v1/changes" --push-token "$edge_token")
start_edge s3 --source s3 --s3-bucket flagedge-propagation "${aws[@]}" "${stream[@]}"
start_edge dynamodb --source dynamodb --dynamodb-table flagedge_propagation "${aws[@]}" "${stream[@]}"

# CPU seconds (user + system) and RSS in MiB of a process.
usage() { awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$1/stat"; }
rss() { awk '/VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
if [ "$FOLLOWERS" -gt 0 ]; then
  start followers-sync "$lt" propagation subscribe --count "$FOLLOWERS" \
    --url "http://$region_host:$sync_port/api/v1/changes?store=s3" --header "Authorization: Bearer $edge_token"
  start followers-core "$lt" propagation subscribe --count "$FOLLOWERS" \
    --url "$core/api/v1/edge/changes" --header "X-Environment-Key: $server_key"
  sleep 5
  c0=$(usage "$core_pid") s0=$(usage "$sync_pid")
  sleep 30
  c1=$(usage "$core_pid") s1=$(usage "$sync_pid")
  echo "== $FOLLOWERS followers each of core's feed and sync's stream, idle 30 s: core $(python3 -c "print(f'{($c1-$c0)/30*100:.2f}')")% CPU, $(rss "$core_pid") MiB; sync $(python3 -c "print(f'{($s1-$s0)/30*100:.2f}')")% CPU, $(rss "$sync_pid") MiB"
fi

echo "== propagation: $CHANGES admin-API changes; push $PUSH; edges poll every ${POLL_SECS}s; lost after $TIMEOUT"
c0=$(usage "$core_pid") s0=$(usage "$sync_pid") t0=$(date +%s.%N)
"$lt" propagation measure --core "$core" --admin-key "$admin_key" --setup "$work/setup.json" \
  "${edges[@]}" --changes "$CHANGES" --timeout "$TIMEOUT" --json "$OUT/propagation.json"
c1=$(usage "$core_pid") s1=$(usage "$sync_pid") t1=$(date +%s.%N)
echo "== during the changes ($(python3 -c "print(f'{$t1-$t0:.1f}')") s): core $(python3 -c "print(f'{($c1-$c0)/($t1-$t0)*100:.2f}')")% CPU, $(rss "$core_pid") MiB; sync $(python3 -c "print(f'{($s1-$s0)/($t1-$t0)*100:.2f}')")% CPU, $(rss "$sync_pid") MiB"
