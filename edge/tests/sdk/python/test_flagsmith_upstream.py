"""Flagsmith's Python SDK (flagsmith==6.3.0) with analytics on, through an edge
that reads a Flagsmith API: the upstream gets exactly the counts the SDK sent,
once — also when the edge is killed (-9) after answering the SDK and before
forwarding, then restarted on the same --persist-dir.

No Flagsmith API can run here, so `StandIn` plays one, following its documented
contract (shared/flagsmith/SPEC.md §1.4, §1.5): `GET /api/v1/environment-document/`
by server-side key, `POST /api/v1/analytics/flags/` with the client-side key and
a `{"<feature>": <count>}` body answered 200. It records the analytics it gets.
"""

import json
import os
import signal
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests
from flagsmith import Flagsmith

ROOT = Path(__file__).resolve().parents[4]
SHOP = json.loads((ROOT / "examples" / "environments" / "shop.json").read_text())
CLIENT_KEY = "demo-shop-client-key"
SERVER_KEY = "ser.demo-shop-server-key"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class StandIn:
    def __init__(self):
        self.analytics = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def reply(self, status, body=b""):
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path.startswith("/api/v1/environment-document/") and self.headers.get("x-environment-key") == SERVER_KEY:
                    self.reply(200, json.dumps(SHOP).encode())
                else:
                    self.reply(403, b'{"detail":"Invalid or missing Environment Key"}')

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.path == "/api/v1/analytics/flags/":
                    stand_in.analytics.append((self.headers.get("x-environment-key"), json.loads(body)))
                    self.reply(200)
                else:
                    self.reply(404, b'{"detail":"Not found."}')

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v1/"

    def counts(self):
        total = {}
        for key, body in self.analytics:
            assert key == CLIENT_KEY
            for feature, count in body.items():
                total[feature] = total.get(feature, 0) + count
        return total


class Edge:
    def __init__(self, upstream, persist_dir, interval):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api/v1/"
        binary = os.environ.get("FLAGEDGE_EDGE_BIN", str(ROOT / "target" / "debug" / "flagedge-edge"))
        self.process = subprocess.Popen(
            [
                binary,
                "--bind", f"127.0.0.1:{self.port}",
                "--api-url", upstream.url,
                "--environment-key-pair", f"{SERVER_KEY}={CLIENT_KEY}",
                "--persist-dir", str(persist_dir),
                "--analytics-interval-secs", str(interval),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/ready", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        self.process.kill()
        raise RuntimeError("the edge did not become ready")

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=20)

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=20)


def evaluate(edge):
    """Evaluations through the SDK, flushed to the edge; returns what the SDK counted."""
    sdk = Flagsmith(environment_key=CLIENT_KEY, api_url=edge.url, enable_analytics=True)
    flags = sdk.get_environment_flags()
    for _ in range(3):
        flags.is_feature_enabled("dark_mode")
    flags.get_feature_value("max_cart_items")
    identity = sdk.get_identity_flags("alice", traits={"plan": "pro"})
    identity.get_feature_value("new_checkout")
    identity.get_feature_value("max_cart_items")
    sent = dict(sdk._analytics_processor.analytics_data)
    sdk._analytics_processor.flush()
    assert sent == {"dark_mode": 3, "max_cart_items": 2, "new_checkout": 1}
    return sent


def wait_for(check, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline and not check():
        time.sleep(0.05)


def test_the_upstream_gets_exactly_the_sdk_counts(tmp_path):
    upstream = StandIn()
    edge = Edge(upstream, tmp_path / "persist", 0.2)
    try:
        sent = evaluate(edge)
        wait_for(lambda: upstream.counts() == sent)
        time.sleep(0.6)  # a few more intervals: nothing is sent twice
        assert upstream.counts() == sent
    finally:
        edge.stop()
        upstream.server.shutdown()
    assert upstream.counts() == sent


def test_counts_survive_a_kill_between_receiving_and_forwarding(tmp_path):
    upstream = StandIn()
    persist = tmp_path / "persist"
    # An hour between batches: the counts are received and answered, never forwarded.
    edge = Edge(upstream, persist, 3600)
    journal = persist / "analytics" / "reported.journal"
    try:
        sent = evaluate(edge)
        # The SDK posts from a thread pool: kill once the edge has answered it.
        wait_for(lambda: journal.exists() and journal.stat().st_size > 0)
        assert journal.stat().st_size > 0
    finally:
        edge.kill()
    assert upstream.counts() == {}
    restarted = Edge(upstream, persist, 0.2)
    try:
        wait_for(lambda: upstream.counts() == sent)
        time.sleep(0.6)
        assert upstream.counts() == sent
    finally:
        restarted.stop()
        upstream.server.shutdown()
    assert upstream.counts() == sent
