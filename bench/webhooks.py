"""bench/webhooks: accepted webhooks/s and latency of `remediator serve`, with zero loss.

A bounded load on loopback: ``--senders`` threads, each with one keep-alive HTTP/1.1
connection, post ``--requests`` Alertmanager v4 webhooks (``--alerts-per-request`` alerts each,
distinct fingerprints, hosts cycling over the inventory) to the real `remediator serve` of a
temp project. Its one catalog entry runs a no-op playbook (one debug task) on ``--hosts``
local-connection aliases of this machine, at ``--stage`` (oversight: live runs; observe:
check-mode runs); guardrails are the defaults but for a blast radius of every host, so cooldown
and throttle keep real runs few while every alert still gets a decision and an audit record.
Workers handle the queue during the load, as in production.

Reported: accepted requests/s, p50/p99/max latency (send to full response), the server's own
``remediator_webhook_seconds`` histogram, the CPU used by the server (event loop vs. its other
threads) and by this client; then every 202's row id is looked up in the store's intake table
with the body that was sent (exit 1 on any loss), and the queue is timed until it drains.
With ``--rulebook``, ansible-rulebook's built-in webhook source (``eda.builtin.webhook``) with a
no-op rule gets the same payloads from the same senders, in the same script.

    .venv/bin/python bench/webhooks.py [--requests 5000] [--senders 8] [--rulebook PATH] [--json]

Target: at least 1,000 accepted webhooks/s at 8 senders, p99 under 50 ms, loss 0, and faster
than ansible-rulebook's webhook source (about 1,000 requests/s, p99 about 38 ms here), which
holds accepted events only in memory.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import itertools
import json
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import yaml

BIN = Path(sys.executable).parent
ALERTNAME = "BenchNoop"
TOKEN_ENV = "REMEDIATOR_BENCH_TOKEN"
WEBHOOK = "/webhook/alertmanager"
HISTOGRAM = "remediator_webhook_seconds"


def progress(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


# -- the project and the payloads --

def host_name(n: int) -> str:
    return f"bench-{n:03d}"


def project(root: Path, hosts: int, stage: str, workers: int, storm_window: int = 0,
            server: dict[str, object] | None = None) -> Path:
    """A project: a one-debug-task playbook, ``hosts`` local aliases, one entry at ``stage``."""
    (root / "playbooks").mkdir(parents=True)
    (root / "playbooks" / "noop.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - ansible.builtin.debug: {msg: noop}\n")
    local = {"ansible_connection": "local",
             "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    inventory = {"all": {"hosts": {host_name(n): local for n in range(hosts)}}}
    (root / "inventory.yml").write_text(yaml.safe_dump(inventory))
    entry = {"name": "bench-noop", "match": {"alertname": ALERTNAME}, "playbook": "noop.yml",
             "stage": stage, "timeout": 120,
             "guardrails": {"blast_radius": {"max_hosts": hosts},
                            "storm": {"window": storm_window}}}
    (root / "remediations.yml").write_text(yaml.safe_dump({"version": 1,
                                                           "remediations": [entry]}))
    config = {"catalog": "remediations.yml", "inventory": "inventory.yml",
              "playbooks": "playbooks", "store": "state/audit.db", "runs": "state/runs",
              "server": {"listen": "127.0.0.1:0", "workers": workers, **(server or {}),
                         "endpoints": {"alertmanager": {"auth": "bearer",
                                                        "token_env": TOKEN_ENV}}}}
    (root / "remediator.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root / "remediator.yml"


def payloads(count: int, per_request: int, hosts: int) -> list[bytes]:
    """Alertmanager v4 webhook bodies as Alertmanager 0.25 sends them; fingerprints distinct."""
    tag = secrets.token_hex(4)
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    bodies = []
    serial = itertools.count()
    for _ in range(count):
        alerts = []
        for _ in range(per_request):
            n = next(serial)
            host = host_name(n % hosts)
            labels = {"alertname": ALERTNAME, "instance": f"{host}:9100", "job": "node",
                      "severity": "warning"}
            alerts.append({
                "status": "firing", "labels": labels,
                "annotations": {"summary": f"{ALERTNAME} on {host}",
                                "description": "bench/webhooks.py load"},
                "startsAt": now, "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus:9090/graph?g0.expr=up+%3D%3D+0",
                "fingerprint": f"{tag}{n:08x}"})
        common = alerts[0]["labels"] if per_request == 1 else {"alertname": ALERTNAME}
        bodies.append(json.dumps({
            "receiver": "remediator", "status": "firing", "alerts": alerts,
            "groupLabels": {"alertname": ALERTNAME}, "commonLabels": common,
            "commonAnnotations": {}, "externalURL": "http://alertmanager:9093",
            "version": "4", "groupKey": f'{{}}:{{alertname="{ALERTNAME}"}}',
            "truncatedAlerts": 0}).encode())
    return bodies


# -- the load generator --
# http.client in threads, not aiohttp's client: on this machine, against a trivial aiohttp
# server, it used about 100 us of client CPU per request against about 120 us for an aiohttp
# ClientSession (10,000 requests, 8 senders), and the generator shares the 2 cores with the
# server. A blocked thread releases the GIL, so the 8 senders overlap their waits.

@dataclass
class Load:
    """One load run: wall and client CPU time; per request its status, latency and answer."""

    wall_s: float
    client_cpu_s: float
    statuses: list[int]  # 0: the connection failed
    latencies: list[float]
    answers: list[bytes]


def send(port: int, bodies: list[bytes], senders: int, headers: dict[str, str]) -> Load:
    """Post every body once over ``senders`` keep-alive connections; returns when all are done."""
    count = len(bodies)
    statuses, latencies = [0] * count, [0.0] * count
    answers = [b""] * count
    tickets = itertools.count()  # next() on it is atomic under the GIL
    start = threading.Barrier(senders + 1)

    def sender() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        start.wait()
        while (i := next(tickets)) < count:
            began = time.perf_counter()
            try:
                conn.request("POST", WEBHOOK, bodies[i], headers)
                response = conn.getresponse()
                answers[i] = response.read()
                statuses[i] = response.status
            except (OSError, http.client.HTTPException) as exc:
                answers[i] = repr(exc).encode()
                conn.close()  # the next request reconnects
            latencies[i] = time.perf_counter() - began
        conn.close()

    threads = [threading.Thread(target=sender, daemon=True) for _ in range(senders)]
    for thread in threads:
        thread.start()
    cpu = time.process_time()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return Load(time.perf_counter() - began, time.process_time() - cpu, statuses, latencies,
                answers)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of sorted ``values``."""
    return values[min(len(values) - 1, max(0, int(q * len(values) + 0.999999) - 1))]


def summary(load: Load, accepted_status: int) -> dict[str, Any]:
    """Rate, latency percentiles (of the answered requests) and counts by status."""
    answered = sorted(t for s, t in zip(load.statuses, load.latencies, strict=True) if s)
    accepted = load.statuses.count(accepted_status)
    by_status = collections.Counter(str(s) if s else "connection-error" for s in load.statuses)
    result: dict[str, Any] = {
        "requests": len(load.statuses), "accepted": accepted,
        "by_status": dict(sorted(by_status.items())), "wall_s": round(load.wall_s, 3),
        "accepted_per_s": round(accepted / load.wall_s),
        "client_cpu_us_per_request": round(load.client_cpu_s / len(load.statuses) * 1e6)}
    if answered:
        result.update(p50_ms=round(percentile(answered, 0.50) * 1e3, 2),
                      p99_ms=round(percentile(answered, 0.99) * 1e3, 2),
                      max_ms=round(answered[-1] * 1e3, 2))
    errors = [a for s, a in zip(load.statuses, load.answers, strict=True) if s != accepted_status]
    if errors:
        result["first_error"] = errors[0][:300].decode(errors="replace")
    return result


# -- the server under test --

def process_cpu(pid: int, task: int | None = None) -> tuple[float, float]:
    """CPU seconds (user + system) of a process or one of its threads, and of its waited-for
    children (ansible-playbook and its forks, once each run ends)."""
    path = f"/proc/{pid}/stat" if task is None else f"/proc/{pid}/task/{task}/stat"
    try:
        fields = Path(path).read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, (int(fields[13]) + int(fields[14])) / tick


def machine_cpu() -> tuple[int, int]:
    """(busy, all) CPU ticks of the whole machine so far, summed over its cores."""
    ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)  # idle and iowait are not busy


class Process:
    """A child process whose stderr a thread keeps reading (the tail is kept for errors)."""

    def __init__(self, argv: list[str], env: dict[str, str], echo: bool,
                 ready: re.Pattern[str] | None = None) -> None:
        self.tail: collections.deque[str] = collections.deque(maxlen=40)
        self.ready = threading.Event()
        self.match: re.Match[str] | None = None
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     text=True)
        self._reader = threading.Thread(target=self._read, args=(self.proc.stderr, echo, ready),
                                        daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str], echo: bool, ready: re.Pattern[str] | None) -> None:
        for line in stream:
            self.tail.append(line.rstrip())
            if echo:
                print(f"    | {line.rstrip()}", file=sys.stderr)
            if ready is not None and not self.ready.is_set():
                self.match = ready.search(line)
                if self.match:
                    self.ready.set()
        self.ready.set()  # the process ended: stop waiting

    def cpu(self) -> tuple[float, float, float]:
        """CPU seconds so far: (main thread, all its other threads, its ended children)."""
        total, children = process_cpu(self.proc.pid)
        main = process_cpu(self.proc.pid, self.proc.pid)[0]
        return main, total - main, children

    def failure(self, what: str) -> str:
        return f"{what} (exit {self.proc.poll()}):\n" + "\n".join(self.tail)

    def stop(self, wait_s: float) -> int:
        """SIGTERM, then SIGKILL after ``wait_s``; the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        return self.proc.returncode


def start_server(config: Path, env: dict[str, str], echo: bool) -> tuple[Process, int]:
    """`remediator serve` on ``config``, once it says where it listens: (process, port)."""
    ready = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")
    server = Process([str(BIN / "remediator"), "--config", str(config), "serve"], env, echo,
                     ready)
    server.ready.wait(120)
    if server.match is None:
        server.stop(5)
        raise SystemExit(server.failure("remediator serve did not start"))
    return server, int(server.match.group(1))


def histogram(port: int) -> dict[str, float]:
    """The server's webhook latency histogram: cumulative bucket counts by bound, sum, count."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/metrics")
    text = conn.getresponse().read().decode()
    conn.close()
    found: dict[str, float] = {}
    line_re = re.compile(HISTOGRAM + r'_(bucket|sum|count)\{endpoint="alertmanager"'
                         r'(?:,le="([^"]+)")?\} (\S+)')
    for match in line_re.finditer(text):
        kind, bound, value = match.groups()
        found[bound if kind == "bucket" else kind] = float(value)
    return found


def histogram_quantile(before: dict[str, float], after: dict[str, float], q: float
                       ) -> float | None:
    """Prometheus' histogram_quantile over the observations between two scrapes."""
    bounds = sorted((float(b), after[b] - before.get(b, 0.0)) for b in after
                    if b not in ("sum", "count"))
    if not bounds or bounds[-1][1] <= 0:
        return None
    rank = q * bounds[-1][1]
    lower, below = 0.0, 0.0
    for bound, cumulative in bounds:
        if cumulative >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - below) / max(cumulative - below, 1e-9)
        lower, below = bound, cumulative
    return lower


def server_side(before: dict[str, float], after: dict[str, float]) -> dict[str, Any]:
    """The measured load as the server saw it (request start to answer, inside aiohttp)."""
    count = after.get("count", 0.0) - before.get("count", 0.0)
    if count <= 0:
        return {}
    p50 = histogram_quantile(before, after, 0.50)
    p99 = histogram_quantile(before, after, 0.99)
    return {"requests": int(count),
            "mean_ms": round((after["sum"] - before.get("sum", 0.0)) / count * 1e3, 2),
            "p50_ms_estimate": None if p50 is None else round(p50 * 1e3, 2),
            "p99_ms_estimate": None if p99 is None else round(p99 * 1e3, 2)}


# -- the store --

def lost(store: Path, loads: list[Load], bodies: list[list[bytes]]) -> list[str]:
    """Every 202 whose row id is not in the intake table with the body sent (or came twice)."""
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        rows = dict(db.execute("SELECT id, body FROM intake"))
    finally:
        db.close()
    problems, seen = [], set()
    for load, sent in zip(loads, bodies, strict=True):
        for status, answer, body in zip(load.statuses, load.answers, sent, strict=True):
            if status != 202:
                continue
            rid = json.loads(answer)["accepted"]
            if rid in seen:
                problems.append(f"{rid} (answered twice)")
            elif rid not in rows:
                problems.append(f"{rid} (no row)")
            elif rows[rid] != body.decode():
                problems.append(f"{rid} (another body)")
            seen.add(rid)
    return problems


def states(store: Path) -> dict[str, int]:
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        return dict(db.execute("SELECT state, COUNT(*) FROM intake GROUP BY state"))
    finally:
        db.close()


def drain(store: Path, timeout_s: float) -> tuple[float | None, dict[str, int]]:
    """Seconds until every intake row is done (None: not within ``timeout_s``), rows by state."""
    began = time.monotonic()
    while True:
        counts = states(store)
        if set(counts) <= {"done"}:
            return time.monotonic() - began, counts
        if time.monotonic() - began > timeout_s:
            return None, counts
        time.sleep(0.25)


def outcomes(store: Path) -> dict[str, Any]:
    """The audit records by action/outcome/mode, and how many playbook runs there were."""
    db = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
    try:
        records = {f"{a}/{o}/{m}": n for a, o, m, n in db.execute(
            "SELECT action, outcome, mode, COUNT(*) FROM records GROUP BY 1, 2, 3")}
        runs = db.execute("SELECT COUNT(DISTINCT ident) FROM guard_runs").fetchone()[0]
    finally:
        db.close()
    return {"records": records, "playbook_runs": runs}


# -- the two receivers --

def remediator(args: argparse.Namespace, tmp: Path, bodies: list[bytes], warm: list[bytes]
               ) -> tuple[dict[str, Any], list[str]]:
    """Run the load against `remediator serve`; the results and the lost 202s."""
    token = secrets.token_hex(16)
    tuning = {k: v for k, v in (("batch", args.batch), ("gather", args.gather)) if v is not None}
    config = project(tmp / "project", args.hosts, args.stage, args.workers, args.storm_window,
                     tuning)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", TOKEN_ENV: token,
           "ANSIBLE_HOME": str(tmp / "ansible-home")}
    env.pop("REMEDIATOR_MAX_STAGE", None)
    store = config.parent / "state" / "audit.db"
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}",
               "User-Agent": "Alertmanager/0.25.0"}
    server, port = start_server(config, env, args.verbose)
    try:
        progress(f"remediator serve on port {port}: {len(warm)} warm-up, then "
                 f"{len(bodies)} requests from {args.senders} senders")
        warmup = send(port, warm, args.senders, headers)
        before, cpu_before, machine_before = histogram(port), server.cpu(), machine_cpu()
        load = send(port, bodies, args.senders, headers)
        machine_after, cpu_after, after = machine_cpu(), server.cpu(), histogram(port)
        loss = lost(store, [warmup, load], [warm, bodies])
        at_end = states(store)
        progress(f"load done in {load.wall_s:.1f} s; waiting for the queue to drain "
                 f"(up to {args.drain_timeout:.0f} s)")
        drained, counts = drain(store, args.drain_timeout)
        rc = server.stop(60)
    finally:
        server.stop(5)
    result = summary(load, 202)
    loop_s, others_s, children_s = (a - b for a, b in zip(cpu_after, cpu_before, strict=True))
    busy, ticks = (a - b for a, b in zip(machine_after, machine_before, strict=True))
    result.update({
        "server_side": server_side(before, after),
        "server_cpu_us_per_request": {"event_loop_thread": round(loop_s / len(bodies) * 1e6),
                                      "other_threads": round(others_s / len(bodies) * 1e6)},
        "cores_busy_during_load": {
            "server": round((loop_s + others_s) / load.wall_s, 2),
            "ansible_runs_ended": round(children_s / load.wall_s, 2),
            "client": round(load.client_cpu_s / load.wall_s, 2),
            "machine": round(busy / max(ticks, 1) * (os.cpu_count() or 1), 2)},
        "warmup": summary(warmup, 202)["by_status"],
        "intake_at_load_end": at_end,
        "loss": len(loss),
        "drained_s_after_load": None if drained is None else round(drained, 1),
        "intake_after_drain_wait": counts, "server_exit": rc, **outcomes(store)})
    return result, loss


def rulebook(args: argparse.Namespace, tmp: Path, bodies: list[bytes], warm: list[bytes]
             ) -> dict[str, Any]:
    """The same load against ansible-rulebook's webhook source with a no-op rule."""
    token = secrets.token_hex(16)
    with socket.socket() as probe:  # a free port: the source cannot take port 0 and say
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    source = {"eda.builtin.webhook": {"host": "127.0.0.1", "port": port, "token": token}}
    rule = {"name": "noop", "condition": f'event.payload.alerts[0].labels.alertname == '
                                         f'"{ALERTNAME}"', "action": {"none": {}}}
    work = tmp / "rulebook"
    work.mkdir()
    (work / "rulebook.yml").write_text(yaml.safe_dump(
        [{"name": "bench", "hosts": "all", "sources": [source], "rules": [rule]}]))
    (work / "inventory.yml").write_text("all:\n  hosts:\n    localhost: {}\n")
    env = {**os.environ,
           "PATH": f"{Path(args.rulebook).parent}{os.pathsep}{os.environ['PATH']}"}
    proc = Process([args.rulebook, "-r", str(work / "rulebook.yml"), "-i",
                    str(work / "inventory.yml"), "--shutdown-delay", "5"], env, args.verbose)
    try:
        deadline = time.monotonic() + 120
        while True:  # it logs nothing when its source listens: wait for the port
            if proc.proc.poll() is not None:
                return {"error": proc.failure("ansible-rulebook exited before its webhook "
                                              "source listened")}
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    return {"error": proc.failure(f"port {port} not open after 120 s")}
                time.sleep(0.2)
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}",
                   "User-Agent": "Alertmanager/0.25.0"}
        progress(f"ansible-rulebook webhook on port {port}: {len(warm)} warm-up, then "
                 f"{len(bodies)} requests from {args.senders} senders")
        send(port, warm, args.senders, headers)
        cpu = sum(proc.cpu()[:2])
        load = send(port, bodies, args.senders, headers)
        cpu = sum(proc.cpu()[:2]) - cpu
    finally:
        proc.stop(30)
    result = summary(load, 200)
    result["process_cpu_us_per_request"] = round(cpu / len(bodies) * 1e6)
    return result


def report(result: dict[str, Any], loss: list[str]) -> str:
    """The human-readable summary."""
    ours = result["remediator"]
    lines = [f"remediator serve ({result['execution']}), {result['senders']} senders, "
             f"{ours['requests']} requests x {result['alerts_per_request']} alert(s):",
             f"  accepted {ours['accepted']} ({ours['by_status']}) in {ours['wall_s']} s: "
             f"{ours['accepted_per_s']} accepted/s",
             f"  latency p50 {ours.get('p50_ms')} ms, p99 {ours.get('p99_ms')} ms, "
             f"max {ours.get('max_ms')} ms",
             f"  server side (its histogram): {ours['server_side']}",
             f"  CPU per request: server {ours['server_cpu_us_per_request']} us, client "
             f"{ours['client_cpu_us_per_request']} us; cores busy "
             f"{ours['cores_busy_during_load']}",
             f"  loss: {len(loss)}" + (f" ({', '.join(loss[:20])})" if loss else ""),
             f"  queue drained {ours['drained_s_after_load']} s after the load "
             f"({ours['intake_after_drain_wait']}); {ours['playbook_runs']} playbook run(s), "
             f"records {ours['records']}"]
    theirs = result.get("rulebook")
    if theirs is not None:
        if "error" in theirs:
            lines.append(f"ansible-rulebook could not be run: {theirs['error']}")
        else:
            lines += ["ansible-rulebook webhook source, no-op rule, same payloads and senders:",
                      f"  accepted {theirs['accepted']} ({theirs['by_status']}) in "
                      f"{theirs['wall_s']} s: {theirs['accepted_per_s']} accepted/s",
                      f"  latency p50 {theirs.get('p50_ms')} ms, p99 {theirs.get('p99_ms')} "
                      f"ms, max {theirs.get('max_ms')} ms",
                      f"  ratio accepted/s remediator/rulebook: {result['ratio_accepted_per_s']}"
                      f"; p99 {ours.get('p99_ms')} ms vs {theirs.get('p99_ms')} ms"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=5000, help="measured requests")
    parser.add_argument("--warmup", type=int, default=200,
                        help="requests sent first, not timed (but checked for loss)")
    parser.add_argument("--senders", type=int, default=8, help="concurrent connections")
    parser.add_argument("--alerts-per-request", type=int, default=1)
    parser.add_argument("--hosts", type=int, default=20, help="inventory hosts to cycle over")
    parser.add_argument("--stage", choices=["oversight", "observe"], default="oversight",
                        help="oversight: live runs; observe: check-mode runs")
    parser.add_argument("--workers", type=int, default=2, help="serve's worker threads")
    parser.add_argument("--batch", type=int, help="server.batch (default: serve's)")
    parser.add_argument("--gather", type=float, help="server.gather (default: serve's)")
    parser.add_argument("--storm-window", type=int, default=0, metavar="SECONDS",
                        help="the entry's storm window: workers claim nothing until the oldest "
                        "queued payload is this old (a long one measures the intake alone)")
    parser.add_argument("--drain-timeout", type=float, default=120.0,
                        help="seconds to wait for the queue to drain after the load")
    parser.add_argument("--rulebook", metavar="PROGRAM",
                        help="an ansible-rulebook executable (its own venv, JAVA_HOME set) to "
                        "take the same load on its webhook source")
    parser.add_argument("--json", action="store_true", help="results as JSON on stdout")
    parser.add_argument("-v", "--verbose", action="store_true", help="echo the servers' stderr")
    args = parser.parse_args()
    everything = payloads(args.warmup + args.requests, args.alerts_per_request, args.hosts)
    warm, bodies = everything[: args.warmup], everything[args.warmup:]
    execution = (f"stage {args.stage}: "
                 + ("live" if args.stage == "oversight" else "check-mode")
                 + " runs of a one-debug-task playbook")
    result: dict[str, Any] = {"senders": args.senders, "alerts_per_request":
                              args.alerts_per_request, "hosts": args.hosts,
                              "execution": execution, "client": "http.client, one thread and "
                              "one keep-alive connection per sender"}
    with tempfile.TemporaryDirectory(prefix="bench-webhooks-") as tmp:
        result["remediator"], loss = remediator(args, Path(tmp), bodies, warm)
        if args.rulebook:
            result["rulebook"] = theirs = rulebook(args, Path(tmp), bodies, warm)
            if theirs.get("accepted_per_s"):
                result["ratio_accepted_per_s"] = round(
                    result["remediator"]["accepted_per_s"] / theirs["accepted_per_s"], 2)
                result["p99_ms"] = {"remediator": result["remediator"].get("p99_ms"),
                                    "rulebook": theirs.get("p99_ms")}
    result["targets"] = {"accepted_per_s": ">= 1000", "p99_ms": "< 50", "loss": 0}
    if loss:
        result["lost"] = loss
    print(json.dumps(result, indent=2) if args.json else report(result, loss))
    if loss:
        sys.exit(1)


if __name__ == "__main__":
    main()
