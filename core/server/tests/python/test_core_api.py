"""flagedge-core from the outside, with real clients:

- schemathesis (PyPI) generates requests for every operation of
  `/api/v1/openapi.json` (examples, coverage, fuzzing, stateful phases) and
  checks that none gets a 5xx and that every response matches the document:
  status codes, content types, headers and body schemas;
- Flagsmith's Python SDK (flagsmith==6.3.0) in local-evaluation mode uses core
  directly: it fetches `/api/v1/environment-document/` with a server-side key
  and evaluates a project built through the admin API (segment override and
  multivariate split included) as core's own document says it should; with
  analytics on, the evaluations it reports to `analytics/flags/` are counted
  and read back through core's analytics API.

A throwaway PostgreSQL cluster (initdb into a temporary directory, as the
postgres user when run as root) and the flagedge-core binary (FLAGEDGE_CORE_BIN,
else next to FLAGEDGE_EDGE_BIN, else target/debug) are started here.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import requests
from flagsmith import Flagsmith

ROOT = Path(__file__).resolve().parents[4]


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def core_binary():
    if os.environ.get("FLAGEDGE_CORE_BIN"):
        return os.environ["FLAGEDGE_CORE_BIN"]
    if os.environ.get("FLAGEDGE_EDGE_BIN"):
        return str(Path(os.environ["FLAGEDGE_EDGE_BIN"]).with_name("flagedge-core"))
    return str(ROOT / "target" / "debug" / "flagedge-core")


def postgres_bin(name):
    versions = sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"))
    assert versions, f"PostgreSQL's {name} is not installed"
    return str(versions[-1])


@pytest.fixture(scope="module")
def core():
    # Not under pytest's tmp_path: its parents are private to root, and the
    # cluster runs as the postgres user.
    work = Path(tempfile.mkdtemp(prefix="flagedge-core-tests-"))
    work.chmod(0o755)
    data = work / "pg"
    data.mkdir()
    as_postgres = []
    if os.geteuid() == 0:
        shutil.chown(data, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    pg_port = free_port()
    subprocess.run(
        [*as_postgres, postgres_bin("initdb"), "-D", str(data), "-U", "flagedge", "--auth=trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
    )
    pg_ctl = [*as_postgres, postgres_bin("pg_ctl"), "-D", str(data)]
    subprocess.run(
        [*pg_ctl, "-l", str(data / "server.log"), "-w", "start", "-o",
         f"-p {pg_port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={data}"],
        check=True,
        capture_output=True,
    )
    core_process = None
    try:
        subprocess.run(
            [*as_postgres, postgres_bin("createdb"), "-h", "127.0.0.1", "-p", str(pg_port), "-U", "flagedge", "core"],
            check=True,
        )
        env = {**os.environ, "DATABASE_URL": f"postgres://flagedge@127.0.0.1:{pg_port}/core"}
        init = subprocess.run([core_binary(), "init", "--log", "warn"], env=env, check=True, capture_output=True, text=True)
        admin_key = next(
            line.split(": ", 1)[1] for line in init.stdout.splitlines() if line.startswith("admin API key: ")
        )
        port = free_port()
        core_process = subprocess.Popen(
            [core_binary(), "serve", "--log", "warn", "--bind", f"127.0.0.1:{port}", "--sync-token", "python-tests"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/ready", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert core_process.poll() is None, "flagedge-core exited"
            assert time.monotonic() < deadline, "flagedge-core never became ready"
            time.sleep(0.1)
        yield {"base": base, "admin_key": admin_key, "work": str(work)}
    finally:
        if core_process is not None:
            core_process.terminate()
            core_process.wait(timeout=30)
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


class Admin:
    def __init__(self, core):
        self.base = core["base"] + "/api/v1/"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Api-Key {core['admin_key']}"

    def call(self, method, path, body=None, status=None):
        response = self.session.request(method, self.base + path, json=body, timeout=10)
        expected = status or {"POST": 201, "DELETE": 204}.get(method, 200)
        assert response.status_code == expected, f"{method} {path}: {response.status_code} {response.text}"
        return response.json() if response.content else None


def test_schemathesis_finds_no_server_error_and_no_schema_violation(core):
    st = Path(sys.executable).with_name("st")
    # A real client-side key, so the SDK analytics endpoints are exercised past
    # their 403 (the environment document still refuses it, as it should).
    admin = Admin(core)
    organisation = admin.call("GET", "organisations/")["results"][0]["id"]
    project = admin.call("POST", "projects/", {"name": "schemathesis", "organisation": organisation})["id"]
    client_key = admin.call("POST", "environments/", {"name": "schemathesis", "project": project})["api_key"]
    admin.call("POST", f"projects/{project}/features/", {"name": "banner"})
    # The change feed long-polls up to 60 s by design; its tests are core's own (changes.rs).
    result = subprocess.run(
        [
            str(st), "run", f"{core['base']}/api/v1/openapi.json",
            "-H", f"Authorization: Api-Key {core['admin_key']}",
            "-H", f"X-Environment-Key: {client_key}",
            "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
            "response_schema_conformance,response_headers_conformance",
            "--exclude-path", "/api/v1/edge/changes",
            "--max-examples", "20",
            # One worker: with threads, hypothesis 6.x's lambda-source cache races
            # ("AST constructor recursion depth mismatch", a runtime error of the tool).
            "--workers", "1",
            "--seed", os.environ.get("FLAGEDGE_SCHEMATHESIS_SEED", "1"),
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    summary = result.stdout[-3000:]
    found = [i for i in (result.stdout.find("= ERRORS ="), result.stdout.find("= FAILURES =")) if i >= 0]
    assert result.returncode == 0, (result.stdout[min(found):min(found) + 6000] if found else summary)
    assert "passed" in summary and "failures" not in summary, summary


def test_the_python_sdk_evaluates_core_documents_locally(core):
    admin = Admin(core)
    organisation = admin.call("GET", "organisations/")["results"][0]["id"]
    project = admin.call("POST", "projects/", {"name": "sdk-local", "organisation": organisation})["id"]
    environment = admin.call("POST", "environments/", {"name": "production", "project": project})
    client_key = environment["api_key"]
    server_key = admin.call("POST", f"environments/{client_key}/api-keys/", {"name": "sdk"})["key"]

    banner = admin.call(
        "POST", f"projects/{project}/features/",
        {"name": "banner", "initial_value": "standard", "default_enabled": True},
    )
    checkout = admin.call(
        "POST", f"projects/{project}/features/",
        {
            "name": "checkout",
            "type": "MULTIVARIATE",
            "initial_value": "control",
            "default_enabled": True,
            "multivariate_options": [
                {"type": "unicode", "string_value": "variant-a", "default_percentage_allocation": 30},
                {"type": "unicode", "string_value": "variant-b", "default_percentage_allocation": 30},
            ],
        },
    )
    segment = admin.call(
        "POST", f"projects/{project}/segments/",
        {
            "name": "pro_users",
            "rules": [{"type": "ALL", "rules": [{"type": "ANY", "conditions": [
                {"operator": "EQUAL", "property": "plan", "value": "pro"},
            ]}]}],
        },
    )
    feature_segment = admin.call(
        "POST", "features/feature-segments/",
        {"feature": banner["id"], "segment": segment["id"], "environment": environment["id"], "priority": 0},
    )
    admin.call(
        "POST", f"environments/{client_key}/featurestates/",
        {"feature": banner["id"], "feature_segment": feature_segment["id"], "enabled": True,
         "feature_state_value": "pro-banner"},
    )

    sdk = Flagsmith(
        environment_key=server_key,
        api_url=core["base"] + "/api/v1/",
        enable_local_evaluation=True,
        environment_refresh_interval_seconds=60,
    )
    assert sdk.get_environment_flags().get_feature_value("banner") == "standard"
    pro = sdk.get_identity_flags("alice", traits={"plan": "pro"})
    free = sdk.get_identity_flags("bob", traits={"plan": "free"})
    assert pro.get_feature_value("banner") == "pro-banner"
    assert free.get_feature_value("banner") == "standard"
    # The split: 30 % / 30 % / 40 % control over many identities.
    values = [sdk.get_identity_flags(f"user-{i}").get_feature_value("checkout") for i in range(600)]
    shares = {v: values.count(v) / len(values) for v in set(values)}
    assert set(shares) == {"variant-a", "variant-b", "control"}, shares
    assert 0.22 < shares["variant-a"] < 0.38 and 0.22 < shares["variant-b"] < 0.38, shares

    # flagedge's engine, given the same document, answers as the SDK did.
    document = requests.get(
        core["base"] + "/api/v1/environment-document/", headers={"X-Environment-Key": server_key}, timeout=10
    )
    assert document.status_code == 200
    path = Path(core["work"]) / "document.json"
    path.write_bytes(document.content)
    evaluate = str(Path(core_binary()).with_name("flagedge-eval"))
    for i in range(0, 600, 20):
        flags = json.loads(subprocess.run(
            [evaluate, "document", str(path), "--identifier", f"user-{i}", "--server-key"],
            check=True, capture_output=True, text=True,
        ).stdout)
        by_name = {f["feature"]["name"]: f["feature_state_value"] for f in flags}
        assert by_name["checkout"] == values[i], f"user-{i}"
    assert checkout["id"] in {f["feature"]["id"] for f in flags}


def test_the_python_sdk_reports_its_evaluations_into_core_analytics(core):
    admin = Admin(core)
    organisation = admin.call("GET", "organisations/")["results"][0]["id"]
    project = admin.call("POST", "projects/", {"name": "sdk-analytics", "organisation": organisation})["id"]
    client_key = admin.call("POST", "environments/", {"name": "production", "project": project})["api_key"]
    server_key = admin.call("POST", f"environments/{client_key}/api-keys/", {"name": "sdk"})["key"]
    for name in ("banner", "checkout"):
        admin.call("POST", f"projects/{project}/features/", {"name": name, "default_enabled": True})

    sdk = Flagsmith(
        environment_key=server_key,
        api_url=core["base"] + "/api/v1/",
        enable_local_evaluation=True,
        enable_analytics=True,
        environment_refresh_interval_seconds=60,
    )
    flags = sdk.get_environment_flags()
    for _ in range(3):
        assert flags.is_feature_enabled("banner")
    assert flags.is_feature_enabled("checkout")
    # What the SDK would send after its 10 s timer, now: POST analytics/flags/.
    sdk._analytics_processor.flush()

    now = time.time()
    window = (
        f"from={time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(now - 7200))}"
        f"&to={time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(now + 7200))}"
    )
    deadline = time.monotonic() + 10
    while True:
        series = admin.call("GET", f"analytics/flags/?environment={client_key}&bucket=1m&{window}")
        totals = {}
        for row in series["results"]:
            totals[row["feature_name"]] = totals.get(row["feature_name"], 0) + row["count"]
        if totals == {"banner": 3, "checkout": 1} or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert totals == {"banner": 3, "checkout": 1}, series
