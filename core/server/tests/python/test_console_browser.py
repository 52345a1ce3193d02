"""The console in a real browser, against the whole stack.

`scripts/stack.sh` (the one command the README gives) starts a throwaway
PostgreSQL cluster, core with the console, sync and an edge reading core, and
loads the demo project; this test reads the URLs and keys it prints. Debian's
Chromium, driven by Playwright (PyPI) with `executable_path=/usr/bin/chromium`
and a fresh user-data directory, then signs in, creates a feature, toggles it,
sets its value, adds a segment and a segment override, and after each change
asks the edge until it serves it; "Test an identity" must say what
`flagedge-eval document --explain` says on the same document; the Usage page's
table must count exactly the calls Flagsmith's Python SDK made through the edge
(counted there, shipped through sync into PostgreSQL, read by core); the
fleet page must show a second edge joining at the current revision and mark it
stale once it is killed. Every action is done from the keyboard
(focus, Tab, Enter, Space), never a mouse click. A feature named
`<script>alert(1)</script>` must render as text (no dialog may open). Ctrl-C
(SIGINT) must stop the stack and leave nothing running. Screenshots of every
page, light, dark and at phone width, are kept in target/console-screenshots/.
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests
from flagsmith import Flagsmith
from playwright.sync_api import expect, sync_playwright

ROOT = Path(__file__).resolve().parents[4]
SHOTS = ROOT / "target" / "console-screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def bin_dir():
    if os.environ.get("FLAGEDGE_BIN_DIR"):
        return os.environ["FLAGEDGE_BIN_DIR"]
    if os.environ.get("FLAGEDGE_EDGE_BIN"):
        return str(Path(os.environ["FLAGEDGE_EDGE_BIN"]).parent)
    return str(ROOT / "target" / "debug")


@pytest.fixture(scope="module")
def stack():
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed (apt-get install chromium)")
    env = dict(os.environ, BIN_DIR=bin_dir(), CORE_PORT="0", EDGE_PORT="0", SYNC_PORT="0")
    process = subprocess.Popen(
        [str(ROOT / "scripts" / "stack.sh")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    printed = []
    found = {}
    deadline = time.monotonic() + 180
    for line in process.stdout:
        printed.append(line)
        if m := re.match(r"\s+Console\s+(http\S+)", line):
            found["console"] = m.group(1).rstrip("/")
        elif m := re.match(r"\s+Admin key\s+(\S+)", line):
            found["admin_key"] = m.group(1)
        elif m := re.match(r"\s+Edge\s+(http\S+)", line):
            found["edge"] = m.group(1)
        elif m := re.match(r"\s+Sync\s+(http\S+)\s+\(ingest token (\S+);", line):
            found["sync"], found["ingest_token"] = m.group(1), m.group(2)
        elif m := re.match(r"\s+Demo shop / Production: client key (\S+), server key (\S+)", line):
            found["client_key"], found["server_key"] = m.group(1), m.group(2)
        elif m := re.match(r"\s+Edge API Test Project / .*: client key (\S+), server key (\S+)", line):
            found["quiet_key"] = m.group(1)
        elif "Ctrl-C stops everything" in line:
            break
        if time.monotonic() > deadline:
            break
    assert {"console", "admin_key", "edge", "client_key"} <= found.keys(), "".join(printed)
    found["process"] = process
    yield found
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def edge_flags(stack, identity=None):
    headers = {"X-Environment-Key": stack["client_key"]}
    if identity is None:
        reply = requests.get(f"{stack['edge']}flags/", headers=headers, timeout=5)
        flags = reply.json()
    else:
        reply = requests.post(f"{stack['edge']}identities/", headers=headers, json=identity, timeout=5)
        flags = reply.json()["flags"]
    return {f["feature"]["name"]: f for f in flags}


def served(stack, name, check, identity=None, within=10.0):
    """Waits until the edge serves feature `name` so that `check(flag)` holds."""
    deadline = time.monotonic() + within
    last = None
    while time.monotonic() < deadline:
        last = edge_flags(stack, identity).get(name)
        if last is not None and check(last):
            return last
        time.sleep(0.1)
    pytest.fail(f"the edge did not serve the change to {name} within {within} s; last: {last}")


def shot(page, name):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def press_on(locator, key):
    """Focus an element as Tab would, then press a key on it."""
    locator.focus()
    locator.press(key)


def test_console_in_a_browser_with_the_edge_serving_each_change(stack):
    dialogs = []
    profile = tempfile.mkdtemp(prefix="flagedge-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_FLAGS,
                viewport={"width": 1280, "height": 900},
            )
            page = context.new_page()
            page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            console = stack["console"]
            features = f"{console}/environments/{stack['client_key']}/features"

            # Sign in: an unknown visitor is sent to the form, the key typed, Enter.
            page.goto(features)
            expect(page).to_have_url(re.compile(r"/sign-in\?next="))
            shot(page, "01-sign-in")
            page.get_by_label("Admin key").fill(stack["admin_key"])
            page.get_by_label("Admin key").press("Enter")
            expect(page).to_have_url(features)
            expect(page.get_by_role("heading", name="Features")).to_be_visible()
            expect(page.locator("header")).to_contain_text("revision")
            shot(page, "02-features")

            # Create a feature from the keyboard.
            page.get_by_label("Name", exact=True).fill("console_flag")
            page.locator("#value-type").select_option("text")
            page.locator("#value-text").fill("hello")
            press_on(page.get_by_role("button", name="Create feature"), "Enter")
            expect(page.get_by_role("heading", name="console_flag")).to_be_visible()
            feature_page = page.url
            served(stack, "console_flag", lambda f: f["enabled"] is False and f["feature_state_value"] == "hello")
            shot(page, "03-feature")

            # Toggle: the checkbox labelled with the feature's name, reached with Tab, Space.
            toggle = page.get_by_label("console_flag", exact=True)
            page.locator("body").focus()
            for _ in range(80):
                page.keyboard.press("Tab")
                if page.evaluate("document.activeElement && document.activeElement.type === 'checkbox' && document.activeElement.form && document.activeElement.form.classList.contains('toggle')"):
                    break
            else:
                pytest.fail("Tab never reached the toggle")
            page.keyboard.press("Space")
            expect(toggle).to_be_checked()
            served(stack, "console_flag", lambda f: f["enabled"] is True)

            # Set its value.
            page.locator("#value-text").fill("world")
            press_on(page.get_by_role("button", name="Save Production"), "Enter")
            expect(page.locator("#value-text")).to_have_value("world")
            served(stack, "console_flag", lambda f: f["feature_state_value"] == "world")

            # A segment: plan EQUAL gold, through the rules editor.
            page.goto(f"{console}/environments/{stack['client_key']}/segments/new")
            page.get_by_label("Name", exact=True).fill("gold_customers")
            page.locator("[name='property@0.0/0']").fill("plan")
            page.locator("[name='operator@0.0/0']").select_option("EQUAL")
            page.locator("[name='value@0.0/0']").fill("gold")
            press_on(page.locator("button[value='add-condition@0']"), "Enter")
            expect(page.locator("[name='property@0/0']")).to_be_visible()
            page.locator("[name='property@0/0']").fill("country")
            page.locator("[name='operator@0/0']").select_option("IS_SET")
            shot(page, "04-segment-editor")
            press_on(page.get_by_role("button", name="Save segment"), "Enter")
            expect(page.get_by_role("heading", name="Segment gold_customers")).to_be_visible()
            page.goto(f"{console}/environments/{stack['client_key']}/segments")
            shot(page, "05-segments")

            # Its override on the feature.
            page.goto(feature_page)
            page.locator("#override-segment").select_option(label="gold_customers")
            page.locator("#new_value-type").select_option("text")
            page.locator("#new_value-text").fill("gold-value")
            press_on(page.get_by_role("button", name="Add segment override"), "Enter")
            expect(page.locator("#segment-overrides")).to_contain_text("gold_customers")
            shot(page, "06-feature-with-override")
            gold = {"identifier": "goldie", "traits": [{"trait_key": "plan", "trait_value": "gold"}, {"trait_key": "country", "trait_value": "NL"}]}
            served(stack, "console_flag", lambda f: f["feature_state_value"] == "gold-value", identity=gold)
            plain = {"identifier": "plain", "traits": [{"trait_key": "plan", "trait_value": "free"}]}
            assert edge_flags(stack, plain)["console_flag"]["feature_state_value"] == "world"

            # Test an identity: the page's account equals flagedge-eval's on the same document.
            page.goto(f"{console}/environments/{stack['client_key']}/explain")
            page.get_by_label("Identifier").fill("goldie")
            page.locator("#explain-traits").fill("plan=gold\ncountry=NL")
            press_on(page.get_by_role("button", name="Evaluate"), "Enter")
            expect(page).to_have_url(re.compile(r"/explain\?identifier=goldie&traits="))
            expect(page.locator("#explained-flags")).to_contain_text("gold-value")
            shot(page, "14-explain")
            shown = page.locator("pre.explanation").inner_text()
            document = requests.get(
                f"{console}/api/v1/environment-document/",
                headers={"X-Environment-Key": stack["server_key"]},
                timeout=10,
            )
            assert document.status_code == 200
            with tempfile.NamedTemporaryFile(suffix=".json") as saved:
                saved.write(document.content)
                saved.flush()
                cli = subprocess.run(
                    [str(Path(bin_dir()) / "flagedge-eval"), "document", saved.name, "--identifier", "goldie",
                     "--trait", "plan=gold", "--trait", "country=NL", "--explain"],
                    capture_output=True, text=True, check=True,
                ).stdout
            assert shown.strip() == cli.strip(), f"console:\n{shown}\nflagedge-eval:\n{cli}"
            assert "gold_customers" in shown and "✓ plan EQUAL" in shown

            # Usage: the Python SDK through the edge, counts through sync into PostgreSQL,
            # and the page's table says exactly what was sent (an environment nothing else calls).
            sdk = Flagsmith(environment_key=stack["quiet_key"], api_url=stack["edge"], enable_analytics=False)
            for _ in range(7):
                sdk.get_environment_flags()
            for i in range(3):
                sdk.get_identity_flags(f"user-{i}", traits={"plan": "free"})
            usage = f"{console}/environments/{stack['quiet_key']}/usage"
            totals = {}
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                page.goto(usage)
                if page.locator("#api-calls table").count():
                    heads = page.locator("#api-calls thead th").all_text_contents()[1:]
                    cells = page.locator("#api-calls tfoot td").all()
                    totals = {h: int(c.get_attribute("data-total")) for h, c in zip(heads, cells)}
                    if totals.get("flags") == 7 and totals.get("identities") == 3:
                        break
                time.sleep(0.5)
            assert totals == {"flags": 7, "identities": 3}, totals
            expect(page.locator("#api-calls svg title").first).to_have_text("SDK API calls by resource")
            expect(page.locator("#evaluations")).to_be_visible()
            shot(page, "15-usage")
            page.emulate_media(color_scheme="dark")
            shot(page, "15-usage-dark")
            page.emulate_media(color_scheme="light")

            # The fleet: a second edge joins (same core, same sync), both serve the
            # current revision; stopped hard, it is marked stale.
            port = free_port()
            second = subprocess.Popen(
                [str(Path(bin_dir()) / "flagedge-edge"), "--log", "warn", "--bind", f"127.0.0.1:{port}",
                 "--source", "http", "--api-url", f"{console}/api/v1/",
                 "--environment-key-pair", f"{stack['server_key']}={stack['client_key']}",
                 "--analytics-url", stack["sync"], "--analytics-token", stack["ingest_token"],
                 "--analytics-interval-secs", "1", "--edge-id", "second-edge", "--edge-region", "lab-b"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            try:
                fleet = f"{console}/fleet?stale_after=4"
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:
                    page.goto(fleet)
                    rows = page.locator("#fleet tbody tr")
                    if rows.count() == 2 and page.locator("#fleet").inner_text().count("current") == 3:
                        break
                    time.sleep(0.5)
                expect(page.locator("#fleet")).to_contain_text("second-edge")
                expect(page.locator("#fleet")).to_contain_text("lab-b")
                expect(page.locator("#fleet tr.stale")).to_have_count(0)
                assert page.locator("#fleet tr[data-name='second-edge']").inner_text().count("current") == 1
                shot(page, "16-fleet")
                page.goto(features)
                expect(page.locator(".fleet-summary")).to_contain_text("2 of 2 serve its current revision")
            finally:
                second.kill()
                second.wait()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                page.goto(f"{console}/fleet?stale_after=4")
                if page.locator("#fleet tr.stale").count() == 1:
                    break
                time.sleep(0.5)
            expect(page.locator("#fleet tr.stale")).to_have_attribute("data-name", "second-edge")
            shot(page, "17-fleet-stale")

            # Hostile names and values render as text.
            page.goto(features)
            page.get_by_label("Name", exact=True).fill("<script>alert(1)</script>")
            page.locator("#value-text").fill("<img src=x onerror=alert(2)>")
            press_on(page.get_by_role("button", name="Create feature"), "Enter")
            expect(page.get_by_role("heading", name="<script>alert(1)</script>")).to_be_visible()
            page.goto(features)
            expect(page.locator("#features")).to_contain_text("<script>alert(1)</script>")
            expect(page.locator("#features")).to_contain_text("<img src=x onerror=alert(2)>")
            served(stack, "<script>alert(1)</script>", lambda f: True)

            # The other pages, for the record.
            for name, path in [
                ("07-home", "/"),
                ("08-identities", f"/environments/{stack['client_key']}/identities"),
                ("09-keys", f"/environments/{stack['client_key']}/keys"),
                ("10-history", f"/environments/{stack['client_key']}/history"),
            ]:
                page.goto(console + path)
                assert page.locator("h1").count() == 1
                shot(page, name)
            expect(page.locator("table.history")).to_contain_text("console_flag")
            page.goto(f"{console}/environments/{stack['client_key']}/identities?q=vip")
            press_on(page.get_by_role("link", name="vip@example.com"), "Enter")
            expect(page.locator("#identity-overrides")).to_contain_text("max_cart_items")
            shot(page, "11-identity")
            page.goto(features)
            press_on(page.get_by_role("link", name="max_cart_items"), "Enter")
            expect(page.locator("#feature-identity-overrides")).to_contain_text("vip@example.com")

            # Dark and narrow.
            page.emulate_media(color_scheme="dark")
            page.goto(features)
            shot(page, "12-features-dark")
            page.set_viewport_size({"width": 390, "height": 844})
            page.goto(feature_page)
            shot(page, "13-feature-phone")

            # Sign out, from the keyboard.
            press_on(page.get_by_role("button", name="Sign out"), "Enter")
            expect(page).to_have_url(re.compile(r"/sign-in$"))
            page.goto(features)
            expect(page).to_have_url(re.compile(r"/sign-in\?next="))
            context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    assert dialogs == [], f"a dialog opened: {dialogs}"

    # Ctrl-C stops the whole stack and leaves nothing running.
    process = stack["process"]
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) == 0
    time.sleep(0.5)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{stack['console']}/health", timeout=2)
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{stack['edge']}flags/", timeout=2)
    leftovers = subprocess.run(["pgrep", "-s", str(process.pid)], capture_output=True, text=True).stdout.split()
    assert leftovers == [], f"left running: {leftovers}"
