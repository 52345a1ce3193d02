"""Deployment files must only set options the binaries actually read.

Every `FLAGEDGE_*` variable named in the Dockerfile, docker-compose.yml and
terraform/ must be one that a flagedge binary declares (clap prints each as
`[env: FLAGEDGE_…=]` in `--help`), apart from the few the files define for
themselves. A renamed flag that a deployment still sets would otherwise be
ignored in silence.

The binaries are looked up in FLAGEDGE_BIN_DIR (default: target/debug).
"""

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BINARIES = ["flagedge-edge", "flagedge-core", "flagedge-sync", "flagedge-loadtest"]
# Read by the image's HEALTHCHECK and by terraform/check.sh, not by a binary.
OWN = {"FLAGEDGE_HEALTH_PORT", "FLAGEDGE_VENV"}
NAME = re.compile(r"FLAGEDGE_[A-Z0-9_]+")


def declared():
    bin_dir = Path(os.environ.get("FLAGEDGE_BIN_DIR", ROOT / "target" / "debug"))
    names = set()
    for binary in BINARIES:
        path = bin_dir / binary
        assert path.exists(), f"{path} is not built"
        out = subprocess.run([path, "--help"], capture_output=True, text=True, check=True).stdout
        for line in subprocess.run([path, "help"], capture_output=True, text=True).stdout.splitlines():
            # Subcommands print their own options.
            sub = line.strip().split(" ")[0]
            if sub and sub.isalpha() and sub != "help":
                out += subprocess.run([path, sub, "--help"], capture_output=True, text=True).stdout
        names |= set(re.findall(r"env: (FLAGEDGE_[A-Z0-9_]+)", out))
    return names


def referenced():
    files = [ROOT / "Dockerfile", ROOT / "docker-compose.yml", *(ROOT / "terraform").rglob("*.tf")]
    found = {}
    for path in files:
        if path.exists():
            for name in NAME.findall(path.read_text()):
                found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_deployment_variable_is_read_by_a_binary():
    known = declared() | OWN
    unknown = {name: sorted(paths) for name, paths in referenced().items() if name not in known}
    assert not unknown, f"variables no binary reads: {unknown}"


def test_the_check_can_fail():
    known = declared()
    assert "FLAGEDGE_BIND" in known and "FLAGEDGE_SOURCE" in known
    assert "FLAGEDGE_NOT_AN_OPTION" not in known
