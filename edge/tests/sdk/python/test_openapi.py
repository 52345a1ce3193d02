"""schemathesis (PyPI) over the edge's own OpenAPI document (/api/v1/openapi.json):
generated requests for every operation (examples, coverage, fuzzing), checked for
no 5xx and for status codes, content types, headers and bodies that match the
document. The edge runs the demo environments with a memory identity store (so
the trait endpoints answer rather than 501), keys of the demo shop presented.

The edge binary is FLAGEDGE_EDGE_BIN (built by scripts/test.sh).
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[4]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_schemathesis_finds_no_server_error_and_no_schema_violation():
    port = free_port()
    binary = os.environ.get("FLAGEDGE_EDGE_BIN", str(ROOT / "target" / "debug" / "flagedge-edge"))
    edge = subprocess.Popen(
        [binary, "--bind", f"127.0.0.1:{port}", "--identity-store", "memory", "--log", "warn"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.05)
        st = Path(sys.executable).with_name("st")
        result = subprocess.run(
            [
                str(st), "run", f"http://127.0.0.1:{port}/api/v1/openapi.json",
                "-H", "X-Environment-Key: ser.demo-shop-server-key",
                "-H", "X-API-Key: demo-shop-client-key",
                "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
                "response_schema_conformance,response_headers_conformance",
                "--max-examples", "30",
                # One worker: hypothesis' lambda-source cache races across threads.
                "--workers", "1",
                "--seed", os.environ.get("FLAGEDGE_SCHEMATHESIS_SEED", "1"),
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert edge.poll() is None, "the edge died under schemathesis"
    finally:
        edge.terminate()
        edge.wait(timeout=20)
    summary = result.stdout[-3000:]
    found = [i for i in (result.stdout.find("= ERRORS ="), result.stdout.find("= FAILURES =")) if i >= 0]
    assert result.returncode == 0, (result.stdout[min(found):min(found) + 6000] if found else summary)
    assert "passed" in summary and "failures" not in summary, summary
