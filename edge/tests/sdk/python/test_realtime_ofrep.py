"""Realtime updates with the real Python SDK, and OFREP with OpenFeature's provider.

- The Flagsmith SDK in local-evaluation mode with `enable_realtime_updates=True`,
  its realtime URL set to the edge: a changed document reaches it through the
  edge's server-sent events, with no polling (the poll interval is an hour).
- OpenFeature's Python SDK with its OFREP provider evaluates flags against the edge.
"""

import json
import time

from flagsmith import Flagsmith
from openfeature import api
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode

from test_python_sdk import CLIENT_KEY, EXAMPLES, SERVER_KEY, Edge


def test_realtime_updates_reach_the_sdk_without_polling(tmp_path):
    edge = Edge(tmp_path, "--file-poll-ms", "20")
    base = f"http://127.0.0.1:{edge.port}/"
    try:
        sdk = Flagsmith(
            environment_key=SERVER_KEY,
            api_url=edge.url,
            enable_local_evaluation=True,
            enable_realtime_updates=True,
            realtime_api_url=base,
            environment_refresh_interval_seconds=3600,
        )
        assert sdk.get_environment_flags().get_feature_value("max_cart_items") == 20
        time.sleep(0.5)  # let the stream connect
        latencies = []
        for round_number in range(1, 6):
            document = json.loads((EXAMPLES / "shop.json").read_text())
            document["updated_at"] = f"2026-11-23T00:00:0{round_number}.000000+00:00"
            for state in document["feature_states"]:
                if state["feature"]["name"] == "max_cart_items":
                    state["feature_state_value"] = 20 + round_number
            written = time.time()
            (tmp_path / "documents" / "shop.json").write_text(json.dumps(document))
            deadline = written + 10
            while time.time() < deadline:
                if sdk.get_environment_flags().get_feature_value("max_cart_items") == 20 + round_number:
                    break
                time.sleep(0.005)
            else:
                raise AssertionError(f"round {round_number}: the SDK did not see the change")
            latencies.append(time.time() - written)
        print(f"realtime: file write -> SDK sees the change: {[round(l * 1000) for l in latencies]} ms")
    finally:
        edge.stop()


def test_openfeature_ofrep_provider(tmp_path):
    edge = Edge(tmp_path)
    try:
        api.set_provider(OFREPProvider(f"http://127.0.0.1:{edge.port}", headers_factory=lambda: {"X-API-Key": CLIENT_KEY}))
        client = api.get_client()
        pro = EvaluationContext(targeting_key="alice", attributes={"plan": "pro"})
        assert client.get_string_value("new_checkout", "none", pro) == "v2"
        details = client.get_string_details("new_checkout", "none", pro)
        assert details.reason == "TARGETING_MATCH"
        assert details.flag_metadata["version"] == "2026-11-22T09:00:00.000000+00:00"
        assert client.get_integer_value("max_cart_items", 0, pro) == 100
        free = EvaluationContext(targeting_key="bob", attributes={"plan": "free"})
        assert client.get_string_value("new_checkout", "none", free) == "v1"
        # A flag without a value evaluates to its enabled state.
        assert client.get_boolean_value("dark_mode", True, free) is False
        missing = client.get_string_details("nope", "fallback", pro)
        assert (missing.value, missing.error_code) == ("fallback", ErrorCode.FLAG_NOT_FOUND)
        no_key = client.get_string_details("new_checkout", "fallback", EvaluationContext(attributes={"plan": "pro"}))
        assert (no_key.value, no_key.error_code) == ("fallback", ErrorCode.TARGETING_KEY_MISSING)
    finally:
        edge.stop()
