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

step "reference engine (flagsmith-flag-engine 11.1.1, flagsmith 6.3.0) in a virtualenv"
FLAGEDGE_REFERENCE_PYTHON=$(scripts/reference-venv.sh)
export FLAGEDGE_REFERENCE_PYTHON

step "tests"
if ! command -v cargo-nextest >/dev/null 2>&1; then
  cargo install cargo-nextest --locked
fi
cargo nextest run --workspace --locked --no-fail-fast --success-output never --failure-output final
cargo test --workspace --doc --locked
