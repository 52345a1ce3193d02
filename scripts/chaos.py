"""Faults under load (RELIABILITY.md): the whole stack serving steady SDK traffic
while its parts fail, one fault at a time, with recovery in between.

Started here, on loopback: PostgreSQL (a throwaway cluster), moto's server (S3),
flagedge-core, flagedge-sync (counts into PostgreSQL, documents into S3) and two
edges — `http` reading core through a relay (`flagedge-loadtest delay`, so its
source link can be slowed), `s3` reading what sync publishes (pushed by sync's
stream) with its persist directory on a small tmpfs. As root, the http edge and
its relay run in their own network namespace, joined to the host by two veth
pairs: `front` carries the SDKs' requests, `back` carries everything the edge
sends (its source, its counts), so a partition takes `back` down alone.

Each fault is one phase: steady traffic to both edges (flags, identities with
traits, SDK analytics posts) at RATE requests a second, the fault for FAULT_SECS,
a change to a flag made during it (retried until core takes it), recovery, then
the traffic stops and the counts settle. Per phase it reports requests, non-2xx
(and requests that found an edge down, for the fault that kills one), p99 from
intended send during the fault, how long after the heal both edges served the
change, whether any edge ever served an older value after a newer one, and the
evaluations and API calls the edges answered against what core's analytics API
reads back from PostgreSQL.

  scripts/chaos.sh                        every fault
  FAULTS="kill-sync stop-core" scripts/chaos.sh   some of them
Environment: BIN_DIR (binaries), RATE (60), FAULT_SECS (5), OUT (target/bench),
BIG_DOCUMENT_MB (50: the size of the largest bad document).
"""

import concurrent.futures
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import boto3
import requests

BIN = os.environ["BIN_DIR"]
RATE = float(os.environ.get("RATE", "60"))
FAULT_SECS = float(os.environ.get("FAULT_SECS", "5"))
OUT = os.environ.get("OUT", "target/bench")
BIG_DOCUMENT_MB = int(os.environ.get("BIG_DOCUMENT_MB", "50"))  # the largest bad document
ROOT = os.geteuid() == 0
TOKEN = "chaos-ingest-token"
CORE_TOKEN = "chaos-core-token"
FEATURE = "chaos_probe"
POSTED_PER_REPORT = 3  # evaluations each SDK analytics post reports


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, what, tries=300):
    for _ in range(tries):
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=1).status_code < 500:
                return
        time.sleep(0.1)
    raise SystemExit(f"{what} did not come up ({url})")


class Process:
    """One started program, restartable with the same command."""

    def __init__(self, name, argv, work, env=None, prefix=()):
        self.name, self.argv, self.env, self.prefix = name, argv, env, list(prefix)
        self.log = open(os.path.join(work, f"{name}.log"), "ab")
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            self.prefix + self.argv, stdout=self.log, stderr=self.log, env=self.env
        )

    def signal(self, sig):
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, sig)

    def kill(self):
        self.signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()


class Stack:
    def __init__(self, work):
        self.work = work
        self.processes = []
        self.namespace = None
        self.tmpfs = None
        self.pg = None
        self.env = dict(os.environ, AWS_ACCESS_KEY_ID="testing",
                        AWS_SECRET_ACCESS_KEY="testing", AWS_REGION="us-east-1")

    def add(self, *args, **kwargs):
        p = Process(*args, work=self.work, **kwargs)
        self.processes.append(p)
        return p

    # --- PostgreSQL -----------------------------------------------------
    def start_postgres(self):
        pgbin = sorted(
            (os.path.join("/usr/lib/postgresql", v, "bin") for v in os.listdir("/usr/lib/postgresql")),
            key=lambda p: [int(x) for x in p.split("/")[-2].split(".") if x.isdigit()],
        )[-1]
        self.pgbin = pgbin
        self.pgdata = os.path.join(self.work, "pg")
        os.mkdir(self.pgdata)
        self.as_postgres = []
        if ROOT:
            shutil.chown(self.pgdata, "postgres")
            self.as_postgres = ["runuser", "-u", "postgres", "--"]
        self.pg_port = free_port()
        subprocess.run(cwd="/", args=self.as_postgres + [f"{pgbin}/initdb", "-D", self.pgdata, "-U", "flagedge",
                                           "--auth=trust", "-E", "UTF8"],
                       check=True, stdout=subprocess.DEVNULL)
        self.pg_start()
        subprocess.run(cwd="/", args=self.as_postgres + [f"{pgbin}/createdb", "-h", "127.0.0.1", "-p",
                                           str(self.pg_port), "-U", "flagedge", "flagedge"], check=True)
        self.database_url = f"postgres://flagedge@127.0.0.1:{self.pg_port}/flagedge"
        self.env["DATABASE_URL"] = self.database_url

    def pg_start(self):
        subprocess.run(cwd="/", args=self.as_postgres + [
            f"{self.pgbin}/pg_ctl", "-D", self.pgdata, "-l", os.path.join(self.pgdata, "server.log"), "-w",
            "-o", f"-p {self.pg_port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.pgdata}",
            "start"], check=True, stdout=subprocess.DEVNULL)

    def pg_pid(self):
        with open(os.path.join(self.pgdata, "postmaster.pid")) as f:
            return int(f.readline())

    def pg_kill(self):
        pid = self.pg_pid()
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        for p in [pid, *map(int, children)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p, signal.SIGKILL)
        for _ in range(100):
            alive = [p for p in [pid, *map(int, children)] if os.path.exists(f"/proc/{p}")]
            if not alive:
                break
            time.sleep(0.05)

    # --- the network namespace of the http edge ---------------------------
    def make_namespace(self):
        if not ROOT:
            self.front_host = self.back_host = "127.0.0.1"
            self.in_ns = []
            return
        ns = f"flagedge-chaos-{os.getpid()}"
        subprocess.run(["ip", "netns", "add", ns], check=True)
        self.namespace = ns
        self.in_ns = ["ip", "netns", "exec", ns]
        run = lambda *a: subprocess.run(list(a), check=True)  # noqa: E731
        run(*self.in_ns, "ip", "link", "set", "lo", "up")
        suffix = os.getpid() % 100000
        self.front_link, self.back_link = f"cf{suffix}", f"cb{suffix}"
        for link, subnet in ((self.front_link, 220), (self.back_link, 221)):
            inner = "front0" if link == self.front_link else "back0"
            run("ip", "link", "add", link, "type", "veth", "peer", "name", inner, "netns", ns)
            run("ip", "addr", "add", f"10.{subnet}.0.1/24", "dev", link)
            run("ip", "link", "set", link, "up")
            run(*self.in_ns, "ip", "addr", "add", f"10.{subnet}.0.2/24", "dev", inner)
            run(*self.in_ns, "ip", "link", "set", inner, "up")
        self.front_host = "10.220.0.2"   # the harness reaches the edge here
        self.back_host = "10.221.0.1"    # the edge reaches core and sync here

    def link(self, up):
        subprocess.run(["ip", "link", "set", self.back_link, "up" if up else "down"], check=True)

    # --- the s3 edge's persist directory ------------------------------------
    def make_persist_tmpfs(self):
        path = os.path.join(self.work, "persist-s3")
        os.mkdir(path)
        if ROOT:
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", path], check=True)
            self.tmpfs = path
        return path

    def teardown(self):
        for p in reversed(self.processes):
            with contextlib.suppress(Exception):
                p.stop()
        if self.pg:
            subprocess.run(cwd="/", args=self.as_postgres + [f"{self.pgbin}/pg_ctl", "-D", self.pgdata, "-m",
                                               "immediate", "stop"], capture_output=True)
        if self.tmpfs:
            subprocess.run(["umount", "-l", self.tmpfs], capture_output=True)
        if self.namespace:
            subprocess.run(["ip", "link", "del", self.front_link], capture_output=True)
            subprocess.run(["ip", "link", "del", self.back_link], capture_output=True)
            subprocess.run(["ip", "netns", "del", self.namespace], capture_output=True)

    # --- everything ----------------------------------------------------------
    def start(self):
        self.start_postgres()
        self.pg = True
        self.make_namespace()
        self.moto_port = free_port()
        moto_server = os.path.join(os.path.dirname(os.path.abspath(__file__)), "moto-server.py")
        self.moto = self.add("moto", [sys.executable, moto_server, "-H", "127.0.0.1",
                                      "-p", str(self.moto_port)], env=self.env)
        wait_http(f"http://127.0.0.1:{self.moto_port}/moto-api/", "moto")
        self.aws = ["--aws-endpoint-url", f"http://127.0.0.1:{self.moto_port}"]

        out = subprocess.run([f"{BIN}/flagedge-core", "init", "--log", "warn"], env=self.env,
                             capture_output=True, text=True, check=True).stdout
        self.admin_key = next(line.split(": ", 1)[1] for line in out.splitlines()
                              if line.startswith("admin API key: "))
        self.core_port = free_port()
        self.core_url = f"http://127.0.0.1:{self.core_port}"
        self.core = self.add("core", [f"{BIN}/flagedge-core", "serve", "--log", "warn", "--bind",
                                      f"0.0.0.0:{self.core_port}", "--sync-token", CORE_TOKEN], env=self.env)
        wait_http(self.core_url + "/ready", "core")

        setup = subprocess.run([f"{BIN}/flagedge-loadtest", "propagation", "setup", "--core", self.core_url,
                                "--admin-key", self.admin_key, "--feature", FEATURE],
                               capture_output=True, text=True, check=True).stdout
        self.setup = json.loads(setup)

        self.sync_port = free_port()
        self.sync = self.add("sync", [
            f"{BIN}/flagedge-sync", "--log", "warn", "--bind", f"0.0.0.0:{self.sync_port}",
            "--core-url", self.core_url, "--core-token", CORE_TOKEN, "--ingest-token", TOKEN,
            "--s3-bucket", "flagedge-chaos", "--create-resources", "true",
            "--analytics-store", "postgres", "--analytics-database-url", self.database_url,
            "--flush-interval-secs", "1", "--reconcile-interval-secs", "2", "--journal-dir", os.path.join(self.work, "sync-journal"),
            *self.aws], env=self.env)
        wait_http(f"http://127.0.0.1:{self.sync_port}/health", "sync")

        counts = ["--analytics-sink", "http", "--analytics-token", TOKEN, "--analytics-interval-secs", "1",
                  "--poll-interval-secs", "2", "--log", "warn"]
        # The http edge: its source through a relay in its namespace, so it can be slowed.
        self.relay_port = free_port()
        self.relay_argv = [f"{BIN}/flagedge-loadtest", "delay", "--listen", f"127.0.0.1:{self.relay_port}",
                           "--to", f"{self.back_host}:{self.core_port}"]
        self.relay = self.add("relay", self.relay_argv + ["--delay", "0ms"], prefix=self.in_ns)
        self.http_port = free_port()
        persist_http = os.path.join(self.work, "persist-http")
        os.mkdir(persist_http)
        bind = "0.0.0.0" if ROOT else "127.0.0.1"
        self.edge_http = self.add("edge-http", [
            f"{BIN}/flagedge-edge", "--bind", f"{bind}:{self.http_port}", "--source", "http",
            "--api-url", f"http://127.0.0.1:{self.relay_port}/api/v1/",
            "--environment-key-pair", f"{self.setup['server_key']}={self.setup['client_key']}",
            "--persist-dir", persist_http, "--edge-id", "edge-http",
            "--analytics-url", f"http://{self.back_host}:{self.sync_port}/api/v1/analytics/batch", *counts],
            env=self.env, prefix=self.in_ns)
        self.s3_port = free_port()
        self.edge_s3 = self.add("edge-s3", [
            f"{BIN}/flagedge-edge", "--bind", f"127.0.0.1:{self.s3_port}", "--source", "s3",
            "--s3-bucket", "flagedge-chaos", *self.aws,
            "--push-url", f"http://127.0.0.1:{self.sync_port}/api/v1/changes", "--push-token", TOKEN,
            "--persist-dir", self.make_persist_tmpfs(), "--edge-id", "edge-s3",
            "--analytics-url", f"http://127.0.0.1:{self.sync_port}/api/v1/analytics/batch", *counts],
            env=self.env)
        self.edges = {"http": f"http://{self.front_host}:{self.http_port}",
                      "s3": f"http://127.0.0.1:{self.s3_port}"}
        for name, url in self.edges.items():
            wait_http(url + "/health", f"edge {name}")
        self.s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{self.moto_port}",
                               region_name="us-east-1", aws_access_key_id="testing",
                               aws_secret_access_key="testing")


class Traffic:
    """Open-loop SDK traffic to every edge: each request has an intended send time."""

    def __init__(self, stack):
        self.stack = stack
        self.client_key = stack.setup["client_key"]
        self.records = []          # (intended, edge, kind, status, latency)
        self.seen = {name: [] for name in stack.edges}   # values served, in order of answer
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = []

    def request(self, session, edge, kind, n):
        url = self.stack.edges[edge]
        headers = {"X-Environment-Key": self.client_key}
        if kind == "flags":
            return session.get(url + "/api/v1/flags/", headers=headers, timeout=5)
        if kind == "identities":
            body = {"identifier": f"user-{n % 500}",
                    "traits": [{"trait_key": "plan", "trait_value": random.choice(["free", "gold"])},
                               {"trait_key": "age", "trait_value": n % 90}]}
            return session.post(url + "/api/v1/identities/", json=body, headers=headers, timeout=5)
        return session.post(url + "/api/v1/analytics/flags/", json={FEATURE: POSTED_PER_REPORT},
                            headers=headers, timeout=5)

    def worker(self, edge, period, offset):
        session = requests.Session()
        start = time.monotonic() + offset
        n = 0
        kinds = ["flags", "flags", "identities", "flags", "analytics"]
        while not self.stopping.is_set():
            intended = start + n * period
            now = time.monotonic()
            if intended > now:
                time.sleep(intended - now)
            kind = kinds[n % len(kinds)]
            try:
                response = self.request(session, edge, kind, n)
                status = response.status_code
                value = None
                if kind == "flags" and status == 200:
                    value = next((f["feature_state_value"] for f in response.json()
                                  if f["feature"]["name"] == FEATURE), None)
            except requests.RequestException as error:
                status, value = type(error).__name__, None
                session = requests.Session()
            done = time.monotonic()
            with self.lock:
                self.records.append((intended, edge, kind, status, done - intended))
                if value is not None:
                    self.seen[edge].append(value)
            n += 1

    def start(self):
        self.stopping.clear()
        workers = 4  # per edge; each paced at RATE / 4
        for edge in self.stack.edges:
            for w in range(workers):
                t = threading.Thread(target=self.worker, args=(edge, workers / RATE, w / RATE), daemon=True)
                t.start()
                self.threads.append(t)

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join()
        self.threads = []


def admin(stack, method, path, body=None, timeout=2):
    r = requests.request(method, f"{stack.core_url}/api/v1/{path}", json=body, timeout=timeout,
                         headers={"Authorization": f"Api-Key {stack.admin_key}"})
    r.raise_for_status()
    return r.json() if r.content else None


def stored(stack, since, until):
    """(evaluations of the probe, {resource: calls}) core's analytics API reads back."""
    params = {"environment": stack.setup["client_key"], "bucket": "1m",
              "from": since, "to": until}
    flags = admin(stack, "GET", "analytics/flags/?" + urllib.parse.urlencode({**params, "feature": FEATURE}))
    usage = admin(stack, "GET", "analytics/usage/?" + urllib.parse.urlencode(params))
    by_resource = {}
    for row in usage["results"]:
        by_resource[row["resource"]] = by_resource.get(row["resource"], 0) + row["count"]
    return flags["total"], by_resource


HARNESS_START = time.time()


def settled(stack):
    """What core reads back once it stops moving (edges ship every 1 s, sync flushes
    every 1 s): unchanged for 4 s, or after 60 s whatever it last read."""
    window = (iso(HARNESS_START - 3600), iso(time.time() + 3600))
    last, steady_since, began = None, time.monotonic(), time.monotonic()
    while time.monotonic() - steady_since < 4 and time.monotonic() - began < 60:
        try:
            now = stored(stack, *window)
        except requests.RequestException:
            now = None
        if now != last:
            last, steady_since = now, time.monotonic()
        time.sleep(0.5)
    return last if last is not None else (0, {})


def value_number(value):
    return int(value[1:]) if isinstance(value, str) and value[1:].isdigit() else -1


def regressions(values):
    """How many times an edge served an older value after a newer one."""
    count, best = 0, -1
    for v in map(value_number, values):
        if v < best:
            count += 1
        best = max(best, v)
    return count


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class Phase:
    """One fault: traffic, the fault, a change during it, the heal, settled counts."""

    changes = 0

    def __init__(self, stack, name, fault, heal, killed_edge=None, prepare=None):
        self.stack, self.name, self.fault, self.heal, self.killed_edge = stack, name, fault, heal, killed_edge
        self.prepare = prepare

    def make_change(self, value, done):
        state = f"environments/{self.stack.setup['client_key']}/featurestates/{self.stack.setup['feature_state_id']}/"
        while True:
            try:
                admin(self.stack, "PATCH", state, {"feature_state_value": value, "enabled": True}, timeout=1)
                done.set()
                return
            except requests.RequestException:
                time.sleep(0.1)

    def served_everywhere(self, value):
        for url in self.stack.edges.values():
            try:
                r = requests.get(url + "/api/v1/flags/", timeout=1,
                                 headers={"X-Environment-Key": self.stack.setup["client_key"]})
                if r.status_code == 200:
                    self.probes += 1  # counted by the edge like any SDK call
                if next((f["feature_state_value"] for f in r.json() if f["feature"]["name"] == FEATURE),
                        None) != value:
                    return False
            except (requests.RequestException, ValueError):
                return False
        return True

    def run(self):
        stack = self.stack
        traffic = Traffic(stack)
        self.probes = 0
        if self.prepare:
            self.prepare()  # before the traffic: the harness's own work must not delay it
        before = settled(stack)
        traffic.start()
        time.sleep(2)
        Phase.changes += 1
        value = f"c{Phase.changes}"
        fault_start = time.monotonic()
        self.fault()
        changed = threading.Event()
        changer = threading.Thread(target=self.make_change, args=(value, changed), daemon=True)
        time.sleep(min(1.0, FAULT_SECS / 2))
        changer.start()
        time.sleep(max(0.0, FAULT_SECS - min(1.0, FAULT_SECS / 2)))
        fault_end = time.monotonic()
        self.heal()
        healed = time.monotonic()
        served_after = None
        while time.monotonic() - healed < 60:
            if changed.is_set() and self.served_everywhere(value):
                served_after = time.monotonic() - healed
                break
            time.sleep(0.05)
        time.sleep(3)
        traffic.stop()
        # Settle: wait until what core reads back stops moving (edges ship every 1 s, sync flushes every 1 s).
        sent = self.expected(traffic.records, self.probes)
        after = settled(stack)
        last = (after[0] - before[0],
                {k: after[1].get(k, 0) - before[1].get(k, 0) for k in after[1] if after[1].get(k, 0) != before[1].get(k, 0)})
        during = [r for r in traffic.records if fault_start <= r[0] < fault_end]
        latencies = sorted(r[4] for r in during if r[3] == 200)
        unreachable = sum(1 for r in traffic.records
                          if r[1] == self.killed_edge and not isinstance(r[3], int))
        non_2xx = [r for r in traffic.records if not (isinstance(r[3], int) and 200 <= r[3] < 300)
                   and not (r[1] == self.killed_edge and not isinstance(r[3], int))]
        statuses = {}
        for r in non_2xx:
            statuses[str(r[3])] = statuses.get(str(r[3]), 0) + 1
        result = {
            "fault": self.name,
            "requests": len(traffic.records),
            "non_2xx": len(non_2xx),
            "non_2xx_by_status": statuses,
            "edge_down": unreachable,
            "p99_ms_during_fault": round(1000 * latencies[int(0.99 * (len(latencies) - 1))], 1) if latencies else None,
            "change_served_after_heal_s": None if served_after is None else round(served_after, 2),
            "regressions": sum(regressions(v) for v in traffic.seen.values()),
            "evaluations_sent": sent[0],
            "evaluations_stored": None if last is None else last[0],
            "calls_sent": sent[1],
            "calls_stored": None if last is None else last[1],
        }
        result["counts_exact"] = last is not None and sent[0] == last[0] and sent[1] == last[1]
        # Killing an edge may lose the counts it held in memory (at most one interval).
        result["counts_may_be_lost"] = self.killed_edge is not None
        return result

    @staticmethod
    def expected(records, probes):
        """What the edges counted: a 2xx flags or identities answer evaluates the probe
        once; an SDK's analytics post adds what it reported; the harness's own checks
        of the change are flags calls too."""
        evaluations, calls = probes, {"flags": probes} if probes else {}
        for _, _, kind, status, _ in records:
            if not (isinstance(status, int) and 200 <= status < 300):
                continue
            if kind == "analytics":
                evaluations += POSTED_PER_REPORT
            else:
                evaluations += 1
                calls[kind] = calls.get(kind, 0) + 1
        return evaluations, calls


def bad_documents(stack):
    """Documents the s3 edge must refuse, each behind a manifest that says it is newer."""
    key = stack.setup["client_key"]
    bucket = "flagedge-chaos"
    manifest_key, doc_key = "manifest.json", f"environments/{key}.json"
    listing = stack.s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    prefix = next((o["Key"][: -len(manifest_key)] for o in listing if o["Key"].endswith(manifest_key)), "")
    manifest_key, doc_key = prefix + manifest_key, prefix + doc_key
    original_manifest = stack.s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read()
    original_doc = stack.s3.get_object(Bucket=bucket, Key=doc_key)
    original_body, metadata = original_doc["Body"].read(), original_doc.get("Metadata", {})
    document = json.loads(original_body)
    # Older documents, with the value before every change (serving one shows as a
    # regression): the served revision with an older updated_at, and an older revision.
    def older(revision_back):
        doc = json.loads(original_body)
        doc["updated_at"] = "2000-01-01T00:00:00Z"
        if isinstance(doc.get("revision"), int):
            doc["revision"] -= revision_back
        for state in doc["feature_states"]:
            if state["feature"]["name"] == FEATURE:
                state["feature_state_value"] = "c0"
        return json.dumps(doc).encode()
    big = dict(document, identity_overrides=[{"identifier": f"x{i}" + "y" * 480, "identity_features": []}
                                            for i in range(BIG_DOCUMENT_MB * 2000)])
    bodies = [original_body[: len(original_body) // 2], b"{not json", older(0), older(1),
              json.dumps(big).encode()]

    def inject():
        manifest = json.loads(original_manifest)
        for n, body in enumerate(bodies, 1):
            revision = manifest["environments"][key]["revision"] + 1000 * n
            manifest["environments"][key]["revision"] = revision
            stack.s3.put_object(Bucket=bucket, Key=doc_key, Body=body,
                                Metadata=dict(metadata, **{"flagedge-revision": str(revision)}))
            stack.s3.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(manifest).encode())
            time.sleep(FAULT_SECS / len(bodies))

    def restore():
        stack.s3.put_object(Bucket=bucket, Key=doc_key, Body=original_body, Metadata=metadata)
        stack.s3.put_object(Bucket=bucket, Key=manifest_key, Body=original_manifest)

    return inject, restore


def fill(path):
    filler = os.path.join(path, "filler")
    with open(filler, "wb") as f:
        with contextlib.suppress(OSError):
            while True:
                f.write(b"\0" * 65536)
                f.flush()
    return filler


def phases(stack):
    def restart(process, then=None):
        def heal():
            process.start()
            if then:
                then()
        return heal

    ready = lambda url: lambda: wait_http(url, url)  # noqa: E731
    core_ready = ready(stack.core_url + "/ready")
    sync_ready = ready(f"http://127.0.0.1:{stack.sync_port}/health")
    edge_ready = ready(stack.edges["http"] + "/health")

    def chain(*steps):
        return lambda: [s() for s in steps]

    def slow_source():
        stack.relay.kill()
        stack.relay.argv = stack.relay_argv + ["--delay", "1000ms"]
        stack.relay.start()

    def fast_source():
        stack.relay.kill()
        stack.relay.argv = stack.relay_argv + ["--delay", "0ms"]
        stack.relay.start()

    inject, restore = (lambda: None, lambda: None)
    filler = {}

    def bad_prepare():
        nonlocal inject, restore
        inject, restore = bad_documents(stack)

    def full_disk():
        filler["path"] = fill(stack.tmpfs or os.path.join(stack.work, "persist-s3"))

    def free_disk():
        os.remove(filler["path"])

    yield Phase(stack, "kill -9 core", stack.core.kill, chain(restart(stack.core), core_ready))
    yield Phase(stack, "kill -9 sync", stack.sync.kill, chain(restart(stack.sync), sync_ready))
    yield Phase(stack, "kill -9 PostgreSQL", stack.pg_kill, chain(stack.pg_start, core_ready))
    yield Phase(stack, "kill -9 moto (S3)", stack.moto.kill,
                chain(restart(stack.moto), ready(f"http://127.0.0.1:{stack.moto_port}/moto-api/")))
    yield Phase(stack, "kill -9 the http edge", stack.edge_http.kill, chain(restart(stack.edge_http), edge_ready),
                killed_edge="http")
    yield Phase(stack, "SIGSTOP core", lambda: stack.core.signal(signal.SIGSTOP),
                lambda: stack.core.signal(signal.SIGCONT))
    yield Phase(stack, "SIGSTOP sync", lambda: stack.sync.signal(signal.SIGSTOP),
                lambda: stack.sync.signal(signal.SIGCONT))
    if ROOT:
        yield Phase(stack, "partition: the http edge's back link down", lambda: stack.link(False),
                    lambda: stack.link(True))
    yield Phase(stack, "slow source: +1 s each way to core", slow_source, fast_source)
    yield Phase(stack, "bad documents to the s3 edge", lambda: inject(), lambda: restore(), prepare=bad_prepare)
    if stack.tmpfs:
        yield Phase(stack, "the s3 edge's persist directory full", full_disk, free_disk)


def main():
    work = tempfile.mkdtemp(prefix="flagedge-chaos-")
    os.chmod(work, 0o755)
    stack = Stack(work)
    wanted = os.environ.get("FAULTS", "").split()
    results = []
    try:
        stack.start()
        for phase in phases(stack):
            slug = phase.name.split(":")[0].replace(" ", "-").replace("--", "-").lower()
            if wanted and not any(w in slug or w == phase.name for w in wanted):
                continue
            print(f"== {phase.name}", flush=True)
            result = phase.run()
            results.append(result)
            print("   " + json.dumps(result), flush=True)
    finally:
        stack.teardown()
        if os.environ.get("KEEP_WORK"):
            print(f"logs kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "chaos.json"), "w") as f:
        json.dump(results, f, indent=1)
    print(table(results))
    failed = [r["fault"] for r in results
              if r["non_2xx"] or r["regressions"] or r["change_served_after_heal_s"] is None
              or (not r["counts_exact"] and not r["counts_may_be_lost"])]
    if failed:
        print("targets missed: " + "; ".join(failed))
        return 1
    return 0


def table(results):
    lines = ["| fault | requests | non-2xx | p99 during (ms) | change served after heal (s) | regressions | evaluations sent / stored | API calls sent / stored |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        calls_sent = sum(r["calls_sent"].values())
        calls_stored = None if r["calls_stored"] is None else sum(r["calls_stored"].values())
        down = f" (+{r['edge_down']} to the dead edge)" if r["edge_down"] else ""
        lines.append(f"| {r['fault']} | {r['requests']} | {r['non_2xx']}{down} | {r['p99_ms_during_fault']} | "
                     f"{r['change_served_after_heal_s']} | {r['regressions']} | "
                     f"{r['evaluations_sent']} / {r['evaluations_stored']} | {calls_sent} / {calls_stored} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
