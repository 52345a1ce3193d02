#!/usr/bin/env bash
# The whole stack on this machine, for a first look: a throwaway PostgreSQL
# cluster (the installed server, initdb into a temporary directory), core with
# the console, sync (taking the edge's evaluation counts into PostgreSQL) and an
# edge reading core (pushed each change; its counts shipped every 2 s and written
# every second, so the console's Usage page moves at once), loaded with the demo project
# (examples/environments/*.json through core's admin API). Prints the console's
# URL, an admin key to sign in with, and the edge's URL with its keys.
# Ctrl-C stops everything and deletes the cluster.
#   scripts/stack.sh
# Environment: BIN_DIR (default: build release binaries), CORE_PORT (8080),
# EDGE_PORT (8000), SYNC_PORT (8090): 0 picks a free port.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BIN_DIR:-}" ]; then
  echo "building release binaries (the first time takes a few minutes)…" >&2
  cargo build --release -q -p flagedge-core -p flagedge-sync -p flagedge-edge
  BIN_DIR=${CARGO_TARGET_DIR:-target}/release
fi

work=$(mktemp -d)
chmod 755 "$work"
pids=()
pg_ctl=""
as=""
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "$pg_ctl" ] && $as "$pg_ctl" -D "$work/pg" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'echo; echo "stopping…" >&2; exit 0' INT TERM

port() { # wanted (0: any free one)
  if [ "$1" != 0 ] && python3 -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1',$1))" 2>/dev/null; then
    echo "$1"
  else
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
  fi
}
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
mkdir "$work/pg"
if [ "$(id -u)" = 0 ]; then
  chown postgres "$work/pg"
  as="runuser -u postgres --"
fi
pg_port=$(port 0)
$as "$pgbin/initdb" -D "$work/pg" -U flagedge --auth=trust -E UTF8 >"$work/initdb.log"
$as "$pg_ctl" -D "$work/pg" -l "$work/pg/server.log" -w \
  -o "-p $pg_port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$work/pg" start >/dev/null
$as "$pgbin/createdb" -h 127.0.0.1 -p "$pg_port" -U flagedge flagedge
export DATABASE_URL="postgres://flagedge@127.0.0.1:$pg_port/flagedge"

init=$("$BIN_DIR/flagedge-core" init --log warn --organisation-name Demo --key-name console)
admin_key=$(sed -n 's/^admin API key: //p' <<<"$init")
organisation=$(sed -n 's/^organisation: //p' <<<"$init")
[ -n "$admin_key" ] || { echo "flagedge-core init printed no key" >&2; exit 1; }

core_port=$(port "${CORE_PORT:-8080}")
core="http://127.0.0.1:$core_port"
start core "$BIN_DIR/flagedge-core" serve --log warn --bind "127.0.0.1:$core_port"
wait_http "$core/ready" core

environments=$(python3 scripts/demo-project.py "$core" "$admin_key" "$organisation" examples/environments/shop.json examples/environments/sample.json)

sync_port=$(port "${SYNC_PORT:-8090}")
# Hex: a URL-safe token may begin with '-', which the command line would take for an option.
ingest_token=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
start sync "$BIN_DIR/flagedge-sync" --log warn --bind "127.0.0.1:$sync_port" \
  --ingest-token "$ingest_token" --analytics-store postgres --analytics-database-url "$DATABASE_URL" \
  --flush-interval-secs 1
wait_http "http://127.0.0.1:$sync_port/health" sync

pairs=()
while read -r line; do
  pairs+=(--environment-key-pair "$(python3 -c 'import json,sys; e=json.loads(sys.argv[1]); print(e["server_key"] + "=" + e["client_key"])' "$line")")
done <<<"$environments"
edge_port=$(port "${EDGE_PORT:-8000}")
edge="http://127.0.0.1:$edge_port"
start edge "$BIN_DIR/flagedge-edge" --log warn --bind "127.0.0.1:$edge_port" \
  --source http --api-url "$core/api/v1/" "${pairs[@]}" \
  --analytics-url "http://127.0.0.1:$sync_port/api/v1/analytics/batch" --analytics-token "$ingest_token" \
  --analytics-interval-secs 2 --edge-id stack-edge --edge-region local
wait_http "$edge/ready" edge

first_client=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1].splitlines()[0])["client_key"])' "$environments")
cat <<EOF

  Console   $core/        sign in with the admin key below
  Admin key $admin_key
  Edge      $edge/api/v1/
  Sync      http://127.0.0.1:$sync_port/api/v1/analytics/batch  (ingest token $ingest_token; more edges: --analytics-url, --analytics-token)

$(python3 -c '
import json, sys
for line in sys.argv[1].splitlines():
    e = json.loads(line)
    print("  %s / %s: client key %s, server key %s" % (e["project"], e["name"], e["client_key"], e["server_key"]))
' "$environments")

  Try:  curl -s -H 'X-Environment-Key: $first_client' $edge/api/v1/flags/
  Logs in $work. Ctrl-C stops everything.
EOF
# Until Ctrl-C, or until a part stops on its own.
while :; do
  for pid in "${pids[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "a part of the stack stopped; logs:" >&2
      tail -n 20 "$work"/*.log >&2
      exit 1
    fi
  done
  sleep 1
done
