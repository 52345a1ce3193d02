"""The real Flagsmith Python SDK (flagsmith==6.3.0) against a running flagedge edge.

- remote evaluation: environment flags and identity flags with traits;
- local evaluation: the SDK fetches the document from the edge with a
  server-side key and evaluates it itself; its answers must equal the edge's
  remote answers for the same identities and traits;
- analytics: the SDK's flush reaches the edge's counters, which the edge ships.

The edge binary is FLAGEDGE_EDGE_BIN (built by scripts/test.sh).
"""

import json
import os
import random
import shutil
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from flagsmith import Flagsmith

ROOT = Path(__file__).resolve().parents[4]
EXAMPLES = ROOT / "examples" / "environments"
CLIENT_KEY = "demo-shop-client-key"
SERVER_KEY = "ser.demo-shop-server-key"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class AnalyticsReceiver:
    """Collects the analytics batches the edge POSTs."""

    def __init__(self):
        self.batches = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                receiver.batches.append(json.loads(self.rfile.read(length)))
                self.send_response(202)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v1/analytics/batch"

    def evaluations(self, feature):
        return sum(
            environment["evaluations"].get(feature, 0)
            for batch in self.batches
            for environment in batch["environments"]
            if environment["environment_key"] == CLIENT_KEY
        )


class Edge:
    def __init__(self, tmp_path, *extra):
        documents = tmp_path / "documents"
        documents.mkdir()
        shutil.copy(EXAMPLES / "shop.json", documents)
        shutil.copy(EXAMPLES / "server-keys.json", documents)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api/v1/"
        binary = os.environ.get("FLAGEDGE_EDGE_BIN", str(ROOT / "target" / "debug" / "flagedge-edge"))
        self.process = subprocess.Popen(
            [binary, "--bind", f"127.0.0.1:{self.port}", "--documents-dir", str(documents), *extra],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/ready", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("the edge did not become ready: " + self.process.stderr.read().decode())

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=20)


@pytest.fixture(scope="module")
def edge(tmp_path_factory):
    running = Edge(tmp_path_factory.mktemp("edge"))
    yield running
    running.stop()


def flag_map(flags):
    return {flag.feature_name: (flag.enabled, flag.value) for flag in flags.all_flags()}


def test_remote_environment_flags(edge):
    sdk = Flagsmith(environment_key=CLIENT_KEY, api_url=edge.url)
    flags = sdk.get_environment_flags()
    raw = requests.get(edge.url + "flags/", headers={"X-Environment-Key": CLIENT_KEY}).json()
    assert flag_map(flags) == {f["feature"]["name"]: (f["enabled"], f["feature_state_value"]) for f in raw}
    assert flags.get_feature_value("max_cart_items") == 20
    assert flags.is_feature_enabled("new_checkout") is False
    # Server-key-only features are not served to client-side keys.
    assert "payment_provider_secret_route" not in flag_map(flags)


def test_remote_identity_flags_with_traits(edge):
    sdk = Flagsmith(environment_key=CLIENT_KEY, api_url=edge.url)
    pro = sdk.get_identity_flags("alice", traits={"plan": "pro", "age": 31})
    assert pro.get_feature_value("new_checkout") == "v2"
    assert pro.is_feature_enabled("new_checkout") is True
    assert pro.get_feature_value("max_cart_items") == 100
    free = sdk.get_identity_flags("bob", traits={"plan": "free"})
    assert free.get_feature_value("new_checkout") == "v1"
    # A transient trait is used for the evaluation.
    transient = sdk.get_identity_flags("carol", traits={"plan": {"value": "pro", "transient": True}})
    assert transient.get_feature_value("new_checkout") == "v2"
    # The identity override carried in the document.
    vip = sdk.get_identity_flags("vip@example.com")
    assert vip.get_feature_value("max_cart_items") == 1000


def random_traits(rng):
    traits = {}
    if rng.random() < 0.6:
        traits["plan"] = rng.choice(["pro", "free", "PRO", "pro "])
    if rng.random() < 0.5:
        traits["email"] = rng.choice(["a@example.com", "b@example.org", "x@example.com.au", "nobody"])
    if rng.random() < 0.3:
        traits["age"] = rng.choice([17, 18, 42, "42", 3.5])
    return traits


def test_local_evaluation_equals_remote_evaluation(edge):
    local = Flagsmith(environment_key=SERVER_KEY, api_url=edge.url, enable_local_evaluation=True)
    remote = Flagsmith(environment_key=SERVER_KEY, api_url=edge.url)
    try:
        # The document really was loaded locally (not a silent fallback to remote).
        assert local._evaluation_context is not None
        assert flag_map(local.get_environment_flags()) == flag_map(remote.get_environment_flags())
        rng = random.Random(20261122)
        identifiers = [f"user-{i}" for i in range(200)] + ["vip@example.com"]
        for identifier in identifiers:
            traits = random_traits(rng)
            assert flag_map(local.get_identity_flags(identifier, traits=traits)) == flag_map(
                remote.get_identity_flags(identifier, traits=traits)
            ), (identifier, traits)
    finally:
        local.__del__()


def test_sdk_analytics_reach_the_edge_counters(tmp_path):
    receiver = AnalyticsReceiver()
    edge = Edge(tmp_path, "--analytics-url", receiver.url, "--analytics-interval-secs", "0.2")
    try:
        sdk = Flagsmith(environment_key=CLIENT_KEY, api_url=edge.url, enable_analytics=True)
        flags = sdk.get_environment_flags()
        flags.is_feature_enabled("dark_mode")
        flags.get_feature_value("dark_mode")
        flags.get_feature_value("max_cart_items")
        sdk._analytics_processor.flush()
        deadline = time.time() + 10
        # Served once by /flags/, then evaluated by the SDK: twice and once.
        while time.time() < deadline and (receiver.evaluations("dark_mode") < 3 or receiver.evaluations("max_cart_items") < 2):
            time.sleep(0.05)
        assert receiver.evaluations("dark_mode") == 3
        assert receiver.evaluations("max_cart_items") == 2
        assert receiver.evaluations("new_checkout") == 1
    finally:
        edge.stop()
        receiver.server.shutdown()
