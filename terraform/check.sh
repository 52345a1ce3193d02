#!/usr/bin/env bash
# Static checks of terraform/ that need no AWS account and no Terraform registry:
#   1. terraform fmt -check      (skipped, with a note, when terraform is not installed)
#   2. pytest tests/             (python-hcl2: types, descriptions, tags, IAM wildcards, pins)
#   3. checkov                   (zero failed checks; exceptions are #checkov:skip with a reason)
# Every step runs even if an earlier one fails; the exit status is non-zero if any failed.
#
# Python packages come from PyPI at the exact versions in tests/requirements*.txt, installed
# into virtualenvs under ${FLAGEDGE_VENV:-$HOME/.cache/flagedge/venv-iac}. checkov gets its own
# virtualenv (${FLAGEDGE_VENV}-checkov) because it depends on bc-python-hcl2, which installs
# a module named `hcl2` just as python-hcl2 does; one environment cannot hold both.
# A virtualenv is rebuilt only when its requirements file changes.
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${FLAGEDGE_VENV:-$HOME/.cache/flagedge/venv-iac}"
CHECKOV_VENV="${VENV}-checkov"
PYTHON="${PYTHON:-python3}"

failures=()

step() { printf '\n==> %s\n' "$*"; }

# ensure_venv DIR REQUIREMENTS_FILE
ensure_venv() {
  local dir="$1" requirements="$2" stamp="$1/.flagedge-requirements"
  if [[ -x "$dir/bin/python" ]] && cmp -s "$requirements" "$stamp"; then
    return 0
  fi
  echo "installing $(basename "$requirements") into $dir"
  rm -rf "$dir"
  mkdir -p "$(dirname "$dir")"
  "$PYTHON" -m venv "$dir" || return 1
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
    -r "$requirements" || return 1
  cp "$requirements" "$stamp"
}

start=$SECONDS

step "terraform fmt -check -recursive"
if command -v terraform >/dev/null 2>&1; then
  # An empty CLI config keeps terraform from warning about a missing ~/.terraformrc.
  tf_config="$(mktemp)"
  if TF_CLI_CONFIG_FILE="$tf_config" terraform fmt -check -recursive -diff "$HERE"; then
    echo "ok"
  else
    failures+=("terraform fmt (run: terraform fmt -recursive terraform/)")
  fi
  rm -f "$tf_config"
else
  echo "skipping terraform fmt: terraform not installed"
fi

step "pytest tests/"
if ensure_venv "$VENV" "$HERE/tests/requirements.txt"; then
  if ! (cd "$HERE" && "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests); then
    failures+=("pytest")
  fi
else
  failures+=("installing tests/requirements.txt")
fi

step "checkov"
if ensure_venv "$CHECKOV_VENV" "$HERE/tests/requirements-checkov.txt"; then
  # --skip-download: no calls to the Prisma Cloud API (unreachable here; results are the same).
  if ! "$CHECKOV_VENV/bin/checkov" -d "$HERE" --framework terraform --quiet --compact --skip-download; then
    failures+=("checkov")
  fi
else
  failures+=("installing tests/requirements-checkov.txt")
fi

printf '\n'
if ((${#failures[@]})); then
  printf 'terraform checks FAILED (%ds):\n' "$((SECONDS - start))"
  printf '  - %s\n' "${failures[@]}"
  exit 1
fi
printf 'terraform checks passed (%ds)\n' "$((SECONDS - start))"
