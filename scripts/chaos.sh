#!/usr/bin/env bash
# Faults under load (RELIABILITY.md): PostgreSQL, moto, core, sync and two edges
# under steady SDK traffic while each part fails in turn; scripts/chaos.py says how.
#   scripts/chaos.sh                               every fault (about 5 minutes)
#   FAULTS="kill-9-sync sigstop-core" scripts/chaos.sh   the faults whose names contain these
# Environment: BIN_DIR (default: build release binaries), RATE (60 requests/s per
# edge), FAULT_SECS (5), OUT (target/bench; chaos.json), KEEP_WORK (keep the logs),
# BIG_DOCUMENT_MB (50: the largest bad document; CI uses 5 with debug binaries).
# As root the partition and the full persist directory run too (network
# namespace, tmpfs). Exits non-zero when a target is missed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${BIN_DIR:-}" ]; then
  cargo build --release -q -p flagedge-edge -p flagedge-sync -p flagedge-core -p flagedge-loadtest
  BIN_DIR=${CARGO_TARGET_DIR:-target}/release
fi
python=$(scripts/python-venv.sh)   # requests, boto3, moto[server]
BIN_DIR=$(cd "$BIN_DIR" && pwd) exec "$python" scripts/chaos.py
