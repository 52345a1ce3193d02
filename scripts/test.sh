#!/usr/bin/env bash
# The whole test suite, from a clean checkout on a fresh machine: formatting,
# lints, and every test (the differential test against Flagsmith's Python engine
# included). Installs or starts what the tests need; needs only the package
# registries.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

step() { printf '\n== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "servers the tests start: PostgreSQL (installed), InfluxDB 1.x (Debian package influxdb)"
if ! command -v influxd >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq influxdb >/dev/null
  else
    echo "influxd is missing: install the Debian package influxdb (needs root)" >&2
    exit 1
  fi
fi
ls /usr/lib/postgresql/*/bin/initdb >/dev/null

step "Chromium for the console's browser test (Debian package chromium)"
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "/usr/bin/chromium is missing: install the Debian package chromium (needs root)" >&2
    exit 1
  fi
fi

step "Python test packages (flagsmith-flag-engine 11.1.1, flagsmith 6.3.0, pytest, OpenFeature, moto) in a virtualenv"
FLAGEDGE_REFERENCE_PYTHON=$(scripts/python-venv.sh)
export FLAGEDGE_REFERENCE_PYTHON

step "Node test packages (flagsmith-nodejs)"
npm ci --prefix edge/tests/sdk/node --no-audit --no-fund --loglevel=error

step "tests"
if ! command -v cargo-nextest >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi
cargo build --workspace --bins --locked
FLAGEDGE_EDGE_BIN="${CARGO_TARGET_DIR:-target}/debug/flagedge-edge"
FLAGEDGE_EDGE_BIN=$(cd "$(dirname "$FLAGEDGE_EDGE_BIN")" && pwd)/flagedge-edge
export FLAGEDGE_EDGE_BIN
cargo test --workspace --doc --locked

step "deployment checks (terraform fmt, HCL tests, checkov; every FLAGEDGE_* a deployment sets is read by a binary)"
terraform/check.sh
FLAGEDGE_BIN_DIR="$(dirname "$FLAGEDGE_EDGE_BIN")" "$FLAGEDGE_REFERENCE_PYTHON" -m pytest -q tests/deploy

step "Node SDK against the edge"
node --test edge/tests/sdk/node/

step "Python SDK against the edge"
"$FLAGEDGE_REFERENCE_PYTHON" -m pytest -q edge/tests/sdk/python

step "core from the outside: schemathesis over its OpenAPI document, the Python SDK evaluating its documents locally, the console in Chromium against scripts/stack.sh"
"$FLAGEDGE_REFERENCE_PYTHON" -m pytest -q core/server/tests/python

step "Rust tests (engine conformance and differential, edge HTTP and sources, cloud formats on moto, sync with Postgres/InfluxDB/moto)"
cargo nextest run --workspace --locked --no-fail-fast --success-output never --failure-output final

step "propagation end to end, pushed: admin API → core → http / sync→S3 / sync→DynamoDB → edges (10 changes; edges poll every 10 s, a change not served in 3 s is lost)"
CHANGES=10 BIN_DIR="$(dirname "$FLAGEDGE_EDGE_BIN")" OUT="$(mktemp -d)" scripts/propagation.sh

step "faults under load, a short subset (RELIABILITY.md): kill -9 sync, SIGSTOP core, bad documents to an S3 edge; no non-2xx, no regression, counts exact"
FAULTS="kill-9-sync sigstop-core bad-documents" BIG_DOCUMENT_MB=5 BIN_DIR="$(dirname "$FLAGEDGE_EDGE_BIN")" OUT="$(mktemp -d)" scripts/chaos.sh

step "the Dockerfile's build stage, as a script: release binaries"
dist=$(mktemp -d)
scripts/build-release.sh binaries "$dist"
for binary in "$dist"/*; do "$binary" --version; done
