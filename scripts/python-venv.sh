#!/usr/bin/env bash
# Creates (once per change of tests/python-requirements.txt) the virtualenv with
# the test suite's Python packages — Flagsmith's pinned reference engine and SDK,
# pytest — and prints the path of its python.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
requirements="$here/tests/python-requirements.txt"
venv="${FLAGEDGE_CACHE:-$HOME/.cache/flagedge}/venv-tests"
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements" >&2
  echo "$want" > "$stamp"
fi
echo "$venv/bin/python"
