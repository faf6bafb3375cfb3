"""bench/decisions: decision throughput with the guardrail state persisted (no execution).

100,000 synthetic Alertmanager alerts across 1,000 hosts, in webhook payloads of 10 alerts,
over a simulated week, through the real path: JSON parse, `sources.normalize`, `Catalog.match`,
`policy.decide`, and the guardrails (dedupe claim, throttle/cooldown/recurrence/lock facts,
reservation) in one SQLite transaction per payload, as `Engine.simulate` does. Playbooks are
not run and no audit record is written (the second figure adds the audit records).

    .venv/bin/python bench/decisions.py [--alerts 100000] [--hosts 1000] [--rounds 3]
        [--deciders 2] [--rulebook PROGRAM] [--store ADMIN-URL]

Three figures: one payload per transaction (as `handle`), payloads claimed 100 at a time and
decided 128 alerts per transaction (as a `serve` worker), and the same split over ``--deciders``
processes on one store, the alert names routed between them as Alertmanager routes would send
them to that many `serve` instances (guard state is versioned per entry, so they do not get in
each other's way).

Target (issue 4): at least 10x ansible-rulebook with no-op rules, measured in the same script:
--rulebook runs ansible-rulebook on the same events (docs/benchmarks.md says how to install it).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

from remediator import sources
from remediator.config import load
from remediator.server.workers import GROUP_ALERTS
from remediator.testing import FakeClock, RecordingExecutor, engine_for

ENTRIES = ["DiskSpaceLow", "ServiceDown", "LogGrowth", "RunawayProcess", "InodesLow"]
NOISE = ["HighLatency", "CertExpiring", "Watchdog"]  # alerts no entry matches


def project(root: Path, hosts: int, store: str = "state/audit.db") -> Path:
    """A project with five entries, a noop playbook and ``hosts`` inventory hosts."""
    (root / "playbooks").mkdir(parents=True)
    (root / "playbooks" / "noop.yml").write_text(
        "- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.debug: {}\n")
    inventory = {"all": {"hosts": {f"host-{n:04d}": None for n in range(hosts)}}}
    (root / "inventory.yml").write_text(yaml.safe_dump(inventory))
    entries = [{"name": name.lower(), "match": {"alertname": name}, "playbook": "noop.yml",
                "stage": "oversight", "vars": {"mountpoint": {"from": "labels.mountpoint",
                                                              "default": "/"}}}
               for name in ENTRIES]
    (root / "remediations.yml").write_text(yaml.safe_dump({"version": 1,
                                                           "remediations": entries}))
    (root / "remediator.yml").write_text(
        "catalog: remediations.yml\ninventory: inventory.yml\nplaybooks: playbooks\n"
        f"store: {store}\nruns: state/runs\n")
    return root / "remediator.yml"


def payloads(count: int, hosts: int, per_payload: int, seed: int = 7) -> list[str]:
    """Alertmanager webhook bodies over a simulated week, starting at FakeClock's default.

    About 1 in 5 alerts is a redelivery of an earlier one, about 1 in 8 matches no entry.
    """
    rng = random.Random(seed)
    bodies, sent = [], []
    clock = FakeClock()
    step = 7 * 86400 / max(1, count // per_payload)
    for start in range(0, count, per_payload):
        began = (clock.advance(step) - timedelta(minutes=rng.randrange(30)))
        alerts = []
        for _ in range(min(per_payload, count - start)):
            if sent and rng.random() < 0.2:
                alert = rng.choice(sent)  # Alertmanager delivers duplicates
            else:
                name = rng.choice(NOISE) if rng.random() < 0.125 else rng.choice(ENTRIES)
                host = f"host-{rng.randrange(hosts):04d}"
                alert = {"status": "firing" if rng.random() < 0.9 else "resolved",
                         "labels": {"alertname": name, "instance": f"{host}:9100",
                                    "severity": "warning", "mountpoint": "/"},
                         "annotations": {"summary": f"{name} on {host}"},
                         "startsAt": began.strftime("%Y-%m-%dT%H:%M:%SZ"),
                         "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "",
                         "fingerprint": f"{rng.getrandbits(64):016x}"}
                sent.append(alert)
            alerts.append(alert)
        bodies.append(json.dumps({"version": "4", "groupKey": "{}:{}", "status": "firing",
                                  "receiver": "remediator", "alerts": alerts}))
    return bodies


def run(config_path: Path, bodies: list[str], *, records: bool, claim: int = 1
        ) -> tuple[float, int, dict]:
    """Feed every body through the engine; (seconds, alerts, decisions by action).

    ``claim`` > 1 handles that many payloads together, as a `serve` worker does with what
    queued up while it was busy: decided in transactions of up to 128 alerts (``plan_groups``,
    the worker's grouping), one coalesced run per entry.
    """
    clock = FakeClock()
    engine = engine_for(load(config_path), clock=clock, executor=RecordingExecutor(clock=clock))
    step = 7 * 86400 / len(bodies)  # a simulated week
    actions: dict[str, int] = {}
    alerts_seen = 0
    start = time.perf_counter()
    for n in range(0, len(bodies), claim):
        groups: list[tuple[list, None]] = []
        for body in bodies[n:n + claim]:
            alerts = sources.normalize(sources.parse_json(body, "bench"))
            alerts_seen += len(alerts)
            if groups and len(groups[-1][0]) + len(alerts) <= GROUP_ALERTS:
                groups[-1][0].extend(alerts)
            else:
                groups.append((list(alerts), None))
        if records:
            for record in engine.handle_groups(groups):
                action = record["decision"]["action"]
                actions[action] = actions.get(action, 0) + 1
        else:
            items, _ = engine.plan_groups(groups, finish_now=True)
            for item in items:
                actions[str(item.decision.action)] = actions.get(str(item.decision.action),
                                                                 0) + 1
        clock.advance(step * claim)
        if n % 2000 < claim:
            print(f"  {alerts_seen} alerts", file=sys.stderr)
    seconds = time.perf_counter() - start
    actions["lost_attempts"] = getattr(engine.store, "lost_attempts", 0)
    engine.store.close()
    return seconds, alerts_seen, actions


def routed(bodies: list[str], deciders: int, per_payload: int) -> list[list[str]]:
    """The same alerts as Alertmanager routes deliver them to ``deciders`` instances, by alert
    name (every catalog entry, and every unmatched name, goes to one instance), the routes
    balanced by volume as an operator would (the busiest name first, to the least loaded
    instance); re-packed in payloads of ``per_payload``."""
    every = [alert for body in bodies for alert in json.loads(body)["alerts"]]
    volume: dict[str, int] = {}
    for alert in every:
        volume[alert["labels"]["alertname"]] = volume.get(alert["labels"]["alertname"], 0) + 1
    load, route = [0] * deciders, {}
    for name in sorted(volume, key=lambda n: (-volume[n], n)):
        route[name] = load.index(min(load))
        load[route[name]] += volume[name]
    alerts: list[list[dict]] = [[] for _ in range(deciders)]
    for alert in every:
        alerts[route[alert["labels"]["alertname"]]].append(alert)
    return [[json.dumps({"version": "4", "groupKey": "{}:{}", "status": "firing",
                         "receiver": "remediator", "alerts": share[n:n + per_payload]})
             for n in range(0, len(share), per_payload)] for share in alerts]


def _decider(config_path: Path, bodies: list[str], claim: int, start: Any, out: Any) -> None:
    """One decider process: say it is ready, wait for the common start, decide its share,
    report its times."""
    out.put(None)
    start.wait()
    began = time.perf_counter()
    seconds, count, actions = run(config_path, bodies, records=False, claim=claim)
    out.put((began, began + seconds, count, actions))


def _collect(out: Any, procs: list[Any], count: int) -> list[Any]:
    """``count`` messages from the deciders; a decider that died ends the bench."""
    messages: list[Any] = []
    while len(messages) < count:
        try:
            messages.append(out.get(timeout=1))
        except queue.Empty:
            failed = [p.exitcode for p in procs if p.exitcode not in (None, 0)]
            if failed:
                raise SystemExit(f"a decider process failed (exit {failed[0]})") from None
    return messages


def parallel(config_path: Path, shares: list[list[str]], claim: int
             ) -> tuple[float, int, dict]:
    """Decide each share in its own process on one store, all at once: (wall s, alerts,
    decisions by action)."""
    import multiprocessing

    # spawned, not forked: a forked child inherits every object the earlier rounds left in
    # this process, and its garbage collector walks them all over again
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_decider, args=(config_path, share, claim, start, out))
             for share in shares]
    for proc in procs:
        proc.start()
    _collect(out, procs, len(procs))  # every process is up
    start.set()
    reports = _collect(out, procs, len(procs))
    for proc in procs:
        proc.join()
    wall = max(r[1] for r in reports) - min(r[0] for r in reports)
    actions: dict[str, int] = {}
    for report in reports:
        for action, number in report[3].items():
            actions[action] = actions.get(action, 0) + number
    return wall, sum(r[2] for r in reports), actions


def rulebook_rate(program: str, bodies: list[str], tmp: Path) -> float:
    """ansible-rulebook's events/s on the same alerts: one rule per catalog entry, no-op action.

    Its generic source reads its payload file with PyYAML, which would dominate a file of
    thousands of events; so it gets the first 100 alerts and replays them (``loop_count``) up to
    the same number of events, and again twice as many.
    """
    alerts = [{"alert": alert} for body in bodies for alert in json.loads(body)["alerts"]]
    events, loops = alerts[:100], max(1, len(alerts) // 100)
    rules = [{"name": name, "condition": f'event.alert.labels.alertname == "{name}"',
              "action": {"none": {}}} for name in ENTRIES]
    rules.append({"name": "stop", "condition": "event.shutdown is defined",
                  "action": {"shutdown": {"delay": 0}}})
    (tmp / "inventory.yml").write_text("all:\n  hosts:\n    localhost: {}\n")
    env = {**os.environ, "PATH": f"{Path(program).parent}{os.pathsep}{os.environ['PATH']}"}

    def timed(loop_count: int) -> float:
        (tmp / "events.json").write_text(json.dumps(events))
        source = {"eda.builtin.generic": {"payload_file": str(tmp / "events.json"),
                                          "loop_count": loop_count,
                                          "final_payload": {"shutdown": True}}}
        (tmp / "rulebook.yml").write_text(yaml.safe_dump(
            [{"name": "bench", "hosts": "all", "sources": [source], "rules": rules}]))
        start = time.perf_counter()
        subprocess.run([program, "-r", str(tmp / "rulebook.yml"), "-i",
                        str(tmp / "inventory.yml")], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=1800)
        return time.perf_counter() - start

    # Its start-up (JVM, Drools) is several seconds and varies: the rate is taken from the
    # difference between ``loops`` and twice as many, best of two each, so start-up cancels.
    once = min(timed(loops), timed(loops))
    twice = min(timed(2 * loops), timed(2 * loops))
    if twice <= once:
        raise SystemExit(f"ansible-rulebook: {2 * loops} loops took no longer than {loops} "
                         f"({twice:.1f} s against {once:.1f} s): the machine is too noisy")
    return len(events) * loops / (twice - once)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=100_000)
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--per-payload", type=int, default=10)
    parser.add_argument("--with-records", type=int, default=20_000,
                        help="alerts for the second figure, with audit records (0 skips it)")
    parser.add_argument("--rulebook", metavar="PROGRAM",
                        help="an ansible-rulebook executable (its own venv, JAVA_HOME set) to "
                        "run on the same alerts; events for it: --rulebook-alerts")
    parser.add_argument("--rulebook-alerts", type=int, default=20_000)
    parser.add_argument("--store", metavar="ADMIN-URL",
                        help="a PostgreSQL admin URL: both decide-only figures again on a fresh "
                        "database there, with the ratio to SQLite")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of the decide-only figures, interleaved; the best counts")
    parser.add_argument("--deciders", type=int, default=2,
                        help="processes for the routed figure: Alertmanager routes alert names "
                        "to that many instances on one store (1 skips it)")
    parser.add_argument("--claim", type=int, default=100,
                        help="payloads per claim for the serve-worker figure (1 skips it)")
    args = parser.parse_args()
    bodies = payloads(args.alerts, args.hosts, args.per_payload)
    result: dict[str, object] = {"alerts": args.alerts, "hosts": args.hosts,
                                 "alerts_per_payload": args.per_payload}
    with tempfile.TemporaryDirectory() as tmp:
        best: dict[int | str, tuple[float, int, dict]] = {}
        claims = [1, args.claim] if args.claim > 1 else [1]
        for round_ in range(args.rounds):  # interleaved; the fastest of each counts
            for claim in claims:
                print(f"  round {round_ + 1}/{args.rounds}, {claim} payload(s) per claim ...",
                      file=sys.stderr)
                measured = run(project(Path(tmp) / f"r{round_}-{claim}", args.hosts), bodies,
                               records=False, claim=claim)
                if claim not in best or measured[0] < best[claim][0]:
                    best[claim] = measured
        if args.deciders > 1:
            shares = routed(bodies, args.deciders, args.per_payload)
            for round_ in range(args.rounds):
                print(f"  round {round_ + 1}/{args.rounds}, {args.deciders} routed deciders, "
                      f"{args.claim} payload(s) per claim ...", file=sys.stderr)
                wall, count, acts = parallel(project(Path(tmp) / f"d{round_}", args.hosts),
                                             shares, args.claim)
                if "routed" not in best or wall < best["routed"][0]:
                    best["routed"] = (wall, count, acts)
            wall, count, acts = best.pop("routed")
            result["routed_deciders"] = args.deciders
            result["routed_alerts_per_s"] = round(count / wall)
            result["routed_alerts_per_decider"] = [
                sum(len(json.loads(body)["alerts"]) for body in share) for share in shares]
            result["routed_actions"] = acts
        seconds, count, actions = best[1]
        result["decide_only_alerts_per_s"] = round(count / seconds)
        result["decide_only_actions"] = actions
        result["rounds"] = args.rounds
        if args.claim > 1:
            seconds_c, count_c, actions_c = best[args.claim]
            result["serve_claims_alerts_per_s"] = round(count_c / seconds_c)
            result["serve_claims_payloads_per_claim"] = args.claim
            result["serve_claims_actions"] = actions_c
        if args.store:
            from events import fresh_database  # bench/ is on sys.path as the script's folder

            for claim, key in ((1, "decide_only"), (args.claim, "serve_claims")):
                if claim == 1 or args.claim > 1:
                    print(f"  on PostgreSQL, {claim} payload(s) per claim ...", file=sys.stderr)
                    with fresh_database(args.store) as url:
                        assert url is not None
                        secs, cnt, _ = run(project(Path(tmp) / f"pg{claim}", args.hosts, url),
                                           bodies, records=False, claim=claim)
                    rate = round(cnt / secs)
                    result[f"postgresql_{key}_alerts_per_s"] = rate
                    result[f"postgresql_{key}_ratio_to_sqlite"] = round(
                        rate / int(str(result[f"{key}_alerts_per_s"])), 2)
        if args.with_records:
            part = bodies[: args.with_records // args.per_payload]
            seconds2, count2, _ = run(project(Path(tmp) / "b", args.hosts), part,
                                             records=True)
            result["with_audit_records_alerts_per_s"] = round(count2 / seconds2)
            result["with_audit_records_alerts"] = count2
        if args.rulebook:
            part = bodies[: args.rulebook_alerts // args.per_payload]
            print("  ansible-rulebook ...", file=sys.stderr)
            rate = rulebook_rate(args.rulebook, part, Path(tmp))
            result["ansible_rulebook_events_per_s"] = round(rate)
            result["ratio_vs_rulebook_same_script"] = round(
                int(str(result["decide_only_alerts_per_s"])) / rate, 1)
            if "serve_claims_alerts_per_s" in result:
                result["serve_claims_ratio_vs_rulebook_same_script"] = round(
                    int(str(result["serve_claims_alerts_per_s"])) / rate, 1)
            if "routed_alerts_per_s" in result:
                result["routed_ratio_vs_rulebook_same_script"] = round(
                    int(str(result["routed_alerts_per_s"])) / rate, 1)
    rulebook = 4200
    result["ansible_rulebook_events_per_s_facts_md"] = rulebook
    result["ratio_vs_facts_md_figure"] = round(
        int(str(result["decide_only_alerts_per_s"])) / rulebook, 1)
    if "serve_claims_alerts_per_s" in result:
        result["serve_claims_ratio_vs_facts_md_figure"] = round(
            int(str(result["serve_claims_alerts_per_s"])) / rulebook, 1)
    if "routed_alerts_per_s" in result:
        result["routed_ratio_vs_facts_md_figure"] = round(
            int(str(result["routed_alerts_per_s"])) / rulebook, 1)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
