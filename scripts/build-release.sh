#!/usr/bin/env bash
# The Dockerfile's build stage as a plain script, so CI runs the very same
# commands without a Docker engine.
#
#   scripts/build-release.sh dependencies   # in a tree holding only the manifests:
#                                            # stub the sources, build every dependency
#   scripts/build-release.sh binaries DIR    # real sources: build the release binaries
#                                            # and copy them into DIR
set -euo pipefail
cd "$(dirname "$0")/.."

# Every flagedge binary the image ships.
BINARIES=(flagedge-edge flagedge-core flagedge-sync flagedge-loadtest flagedge-eval)
PACKAGES=()
for binary in "${BINARIES[@]}"; do PACKAGES+=(-p "$binary"); done

case "${1:-}" in
  dependencies)
    # Stub every workspace crate so that `cargo build` compiles only the
    # dependencies: this layer is reused until a manifest or the lock changes.
    for manifest in $(find . -name Cargo.toml -not -path './target/*' -not -path '*/fuzz/*'); do
      crate=$(dirname "$manifest")
      [ "$crate" = . ] && continue
      mkdir -p "$crate/src"
      [ -e "$crate/src/lib.rs" ] || : > "$crate/src/lib.rs"
      [ -e "$crate/src/main.rs" ] || echo 'fn main() {}' > "$crate/src/main.rs"
      for bench in $(sed -n '/^\[\[bench\]\]/,/^$/s/^name = "\(.*\)"/\1/p' "$manifest"); do
        mkdir -p "$crate/benches" && echo 'fn main() {}' > "$crate/benches/$bench.rs"
      done
    done
    cargo build --release --locked "${PACKAGES[@]}"
    ;;
  binaries)
    out=${2:?usage: build-release.sh binaries DIR}
    # Sources copied over stubs may carry older timestamps: make cargo see them.
    find . -path ./target -prune -o -name '*.rs' -print0 | xargs -0 touch
    cargo build --release --locked "${PACKAGES[@]}"
    mkdir -p "$out"
    target=${CARGO_TARGET_DIR:-target}
    for binary in "${BINARIES[@]}"; do
      install -m 0755 "$target/release/$binary" "$out/$binary"
    done
    ls -l "$out"
    ;;
  *)
    echo "usage: $0 dependencies | binaries DIR" >&2
    exit 2
    ;;
esac
