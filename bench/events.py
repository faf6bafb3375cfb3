"""bench/events: parsing and storing the runner events of a large run (issue 8).

A real run's events, recorded once (tests/data/events/mixed-live.jsonl: ansible-runner on three
hosts x seven tasks with ok, changed with a diff, a loop, no_log, an ignored and a real failure,
a skipped task and an unreachable host), are replayed as the JSON lines of a run over --hosts
hosts with as many tasks as it takes to reach N task results (2,000 hosts x 50 tasks for
100,000). Each line is made from its recorded template as it is needed (a stream: nothing of
the run is held by the generator). Every 100th host fails its last task, every 1,000th is
unreachable from its second task on; a PLAY RECAP closes the run, as ansible's does.

Phases, each in its own child process so its peak resident memory is its own:

  replay   the generator alone (the floor)
  json     the baseline: json.loads of every line (ansible-runner, in our process, decodes each
           event at least twice and writes it to job_events once)
  engine   `remediator run ENTRY --limit <every host> --live` as a library call: Engine.run_manual
           with an executor that feeds the decoded lines to ResultCollector as LocalExecutor's
           event handler does, then the run's audit record built and appended to the store
           (host locks taken and released, as for a real run); timed from the call, once the
           engine is open (its project, with an inventory of every host, is made before)

For each: task results/s and runner events/s (the fastest of --repeat interleaved rounds), the
ratio to json, peak RSS (VmHWM) and, in a further run under tracemalloc, the peak of the
Python heap; for engine also the time spent collecting, the audit record's size and its
`truncated` marker.

    .venv/bin/python bench/events.py [--results 10000,100000] [--hosts 2000]
                                     [--store postgresql://ADMIN-URL] [--repeat 3] [--no-traced]

With --store (an admin URL of a PostgreSQL server, e.g. what scripts/setup-postgres.sh prints),
the engine phase runs again on PostgreSQL, each time in a fresh database made and dropped here.

The generator is importable (bench/ on sys.path): ``Replay(hosts, tasks)`` yields JSON lines.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

RECORDED = Path(__file__).resolve().parents[1] / "tests" / "data" / "events" / "mixed-live.jsonl"
HOSTS = ("first", "second", "gone")  # the recorded hosts: a normal one, a failing one, unreachable
FAIL_EVERY, UNREACHABLE_EVERY = 100, 1000
_SLOT = re.compile(r"@([CUTNH])@")
_RESULTS = {"runner_on_ok", "runner_on_failed", "runner_on_skipped", "runner_on_unreachable"}


class Template:
    """One recorded event as JSON text with slots for counter, uuid, task uuid, task name and
    host, filled by joining strings (no json.dumps per event)."""

    def __init__(self, event: dict[str, Any], host: str | None, task: str | None) -> None:
        text = json.dumps(event, sort_keys=True)
        text = text.replace(f'"counter": {event["counter"]}', '"counter": @C@')
        task_uuid = event["event_data"].get("task_uuid")
        if task_uuid:  # first: a task start's own uuid is its task uuid
            text = text.replace(task_uuid, "@T@")
        text = text.replace(event["uuid"], "@U@")
        if task:
            text = text.replace(task, "@N@")
        if host:
            text = re.sub(rf"\b{host}\b", "@H@", text)
        pieces = _SLOT.split(text)
        self.head = pieces[0]
        self.slots = list(zip(pieces[1::2], pieces[2::2], strict=True))
        self.kind = event["event"]
        self.data = event["event_data"]

    def fill(self, values: dict[str, str]) -> str:
        """The event's JSON with every slot filled from ``values``."""
        out = [self.head]
        for key, text in self.slots:
            out.append(values[key])
            out.append(text)
        return "".join(out)

    def recap(self) -> dict[str, int]:
        """What this event adds to its host's PLAY RECAP counters."""
        if self.kind == "runner_on_ok":
            return {"ok": 1, "changed": int(bool(self.data["res"].get("changed")))}
        if self.kind == "runner_on_failed":
            return {"ok": 1, "ignored": 1} if self.data.get("ignore_errors") else {"failures": 1}
        return {"runner_on_skipped": {"skipped": 1},
                "runner_on_unreachable": {"dark": 1}}.get(self.kind, {})


def _recorded() -> tuple[list[Template], list[tuple[Template, str, dict[str, list[Template]]]],
                         dict[str, Any]]:
    """(play header templates, per task (start template, name, per host templates), stats)."""
    header: list[Template] = []
    tasks: list[tuple[Template, str, dict[str, list[Template]]]] = []
    stats: dict[str, Any] = {}
    with RECORDED.open(encoding="utf-8") as handle:
        for line in handle:
            event = json.loads(line)
            kind, data = event["event"], event["event_data"]
            if kind == "playbook_on_task_start":
                tasks.append((Template(event, None, data["task"]), data["task"], {}))
            elif kind == "playbook_on_stats":
                stats = event
            elif tasks and data.get("host") in HOSTS:
                tasks[-1][2].setdefault(data["host"], []).append(
                    Template(event, data["host"], data["task"]))
            elif not tasks:
                header.append(Template(event, None, None))
    return header, tasks, stats


class Replay:
    """The JSON lines of a run of ``tasks`` tasks over ``hosts`` hosts, made one at a time.

    ``events`` and ``results`` count what was yielded so far; ``failed`` tells whether any
    host failed or was unreachable (ansible-runner's status is then "failed")."""

    def __init__(self, hosts: int, tasks: int) -> None:
        self.hosts, self.tasks = hosts, tasks
        self.header, self.recorded, self.stats = _recorded()
        self.events = self.results = 0

    def names(self) -> list[str]:
        """Every host name, as in bench/decisions.py's inventory."""
        return [f"host-{n:04d}" for n in range(self.hosts)]

    def kind(self, host: int) -> str:
        """Which recorded host this one behaves like."""
        if host % UNREACHABLE_EVERY == UNREACHABLE_EVERY // 2:
            return "gone"
        return "second" if host % FAIL_EVERY == FAIL_EVERY - 1 else "first"

    def plan(self, kind: str, task: int) -> list[Template] | None:
        """The recorded events a host of ``kind`` gives for synthetic task ``task``; None
        once it stopped (failed or unreachable)."""
        recorded = self.recorded[task % len(self.recorded)][2]
        if kind == "gone":
            return recorded["gone"] if task == 0 else self.recorded[1][2]["gone"] \
                if task == 1 else None
        if kind == "second" and task == self.tasks - 1:
            return self.recorded[-1][2]["second"]  # "Fail for real on the second host"
        return recorded["first"]

    def recap(self, kind: str) -> dict[str, int]:
        """The PLAY RECAP counters of a host of ``kind`` (the same for every such host)."""
        counts: dict[str, int] = {}
        for task in range(self.tasks):
            for template in self.plan(kind, task) or ():
                for key, add in template.recap().items():
                    counts[key] = counts.get(key, 0) + add
        return counts

    def __iter__(self) -> Iterator[str]:
        values = {"C": "0", "U": "", "T": "", "N": "", "H": ""}

        def emit(template: Template) -> str:
            self.events += 1
            values["C"] = str(self.events)
            values["U"] = f"00000000-0000-4000-8000-{self.events:012d}"
            self.results += template.kind in _RESULTS
            return template.fill(values)

        for template in self.header:
            yield emit(template)
        for task in range(self.tasks):
            start, name, _ = self.recorded[task % len(self.recorded)]
            values["N"] = f"{name} #{task + 1}"
            values["T"] = f"00000000-0000-4000-9000-{task:012d}"
            yield emit(start)
            for host in range(self.hosts):
                kind = self.kind(host)
                events = self.plan(kind, task)
                if events is None:
                    continue
                values["H"] = f"host-{host:04d}"
                for template in events:
                    yield emit(template)
        recap = {kind: self.recap(kind) for kind in HOSTS}
        data = dict(self.stats["event_data"])
        for key in ("ok", "changed", "failures", "dark", "skipped", "ignored", "processed"):
            data[key] = {}
        for host in range(self.hosts):
            name = f"host-{host:04d}"
            data["processed"][name] = 1
            for key, value in recap[self.kind(host)].items():
                if value:
                    data[key][name] = value
        self.events += 1
        yield json.dumps({**self.stats, "counter": self.events, "event_data": data})

    @property
    def failed(self) -> bool:
        """True when some host fails or is unreachable in this run."""
        return self.hosts >= FAIL_EVERY or self.hosts > UNREACHABLE_EVERY // 2


# -- the phases, each run in a child process --

def phase_replay(replay: Replay, store: str | None) -> dict[str, Any]:
    for _ in replay:
        pass
    return {}


def phase_json(replay: Replay, store: str | None) -> dict[str, Any]:
    loads = json.loads
    for line in replay:
        loads(line)
    return {}


class ReplayExecutor:
    """An Executor that replays a recorded run instead of starting ansible-runner: every line
    decoded and fed to a ResultCollector, as LocalExecutor's event handler does."""

    def __init__(self, replay: Replay, artifacts: Path) -> None:
        self.replay = replay
        self.artifacts = artifacts
        self.seconds = 0.0

    def run(self, plan: Any, progress: Any = None) -> Any:
        from remediator.models import RunnerStatus, RunResult
        from remediator.results import ResultCollector, outcome_of

        start = time.perf_counter()
        collector = ResultCollector()
        loads = json.loads
        for line in self.replay:
            event = loads(line)
            task = collector.feed(event)
            if task is not None and progress is not None:
                progress(str(event.get("event_data", {}).get("host", "")), task)
        hosts = collector.hosts(plan.hosts)
        status = RunnerStatus.FAILED if self.replay.failed else RunnerStatus.SUCCESSFUL
        self.seconds = time.perf_counter() - start
        return RunResult(
            ident=plan.ident, status=status, rc=2 if self.replay.failed else 0,
            started_at="2026-01-05T12:00:00.000+00:00",
            finished_at="2026-01-05T12:10:00.000+00:00", duration_s=600.0, hosts=hosts,
            outcome=outcome_of(status, hosts, plan.hosts), artifacts=str(self.artifacts))


def phase_engine(replay: Replay, store: str | None) -> dict[str, Any]:
    from decisions import project

    from remediator.config import load
    from remediator.models import Mode
    from remediator.testing import engine_for

    with tempfile.TemporaryDirectory() as tmp:
        config_path = project(Path(tmp) / "p", replay.hosts)
        if store:
            text = config_path.read_text().replace("store: state/audit.db", f"store: {store}")
            config_path.write_text(text)
        engine = engine_for(load(config_path, env={}))
        executor = ReplayExecutor(replay, Path(tmp) / "runs" / "artifacts")
        engine.executor = executor
        names = replay.names()
        start = time.perf_counter()  # from here on as `remediator run` once the engine is open
        record = engine.run_manual("diskspacelow", names, Mode.LIVE, user="bench",
                                   allow_uncommitted=True)
        seconds = time.perf_counter() - start
        listed = sum(len(h["tasks"]) for h in record["hosts"].values())
        body = len(json.dumps(record))
        engine.store.close()
    return {"seconds": seconds, "collect_seconds": executor.seconds, "record_bytes": body,
            "tasks_listed": listed,
            "outcome": record["outcome"], "truncated": record.get("truncated")}


PHASES = {"replay": phase_replay, "json": phase_json, "engine": phase_engine}


def child(name: str, hosts: int, tasks: int, traced: bool, store: str | None) -> None:
    """Run one phase here and print its figures as JSON."""
    replay = Replay(hosts, tasks)
    if traced:
        tracemalloc.start()
    start = time.perf_counter()
    figures = PHASES[name](replay, store)
    figures.setdefault("seconds", time.perf_counter() - start)  # engine: its run alone
    peak = tracemalloc.get_traced_memory()[1] if traced else None
    print(json.dumps({**figures, "events": replay.events, "results": replay.results,
                      "maxrss_kb": peak_rss_kb(), "heap_peak": peak}))


def peak_rss_kb() -> int:
    """This process's peak resident memory: VmHWM, which starts afresh at exec (ru_maxrss
    keeps the forking parent's, which grows once the parent has imported psycopg)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def measure(name: str, hosts: int, tasks: int, traced: bool = False,
            store: str | None = None) -> dict[str, Any]:
    """One phase in a fresh child process (with ``store``, in a fresh database there)."""
    with fresh_database(store) as url:
        out = subprocess.run([sys.executable, __file__, "--child", name, str(hosts), str(tasks),
                              *(["--traced"] if traced else []),
                              *(["--store", url] if url else [])],
                             check=True, capture_output=True, text=True)
    sys.stderr.write(out.stderr)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


@contextmanager
def fresh_database(admin: str | None) -> Iterator[str | None]:
    """The URL of a new PostgreSQL database on the server of ``admin``, dropped afterwards;
    None without ``admin``."""
    if admin is None:
        yield None
        return
    import psycopg

    name = f"bench_events_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield admin.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default="10000,100000",
                        help="task results per run, comma-separated (hosts x tasks)")
    parser.add_argument("--hosts", type=int, default=2000)
    parser.add_argument("--store", help="a PostgreSQL URL: the engine phase again on it")
    parser.add_argument("--repeat", type=int, default=3,
                        help="rounds of every phase, interleaved; the fastest of each counts")
    parser.add_argument("--no-traced", action="store_true", help="skip the tracemalloc runs")
    parser.add_argument("--child", nargs=3, metavar=("PHASE", "HOSTS", "TASKS"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), int(args.child[2]), args.traced, args.store)
        return
    results: dict[str, dict[str, Any]] = {}
    for size in (int(n) for n in args.results.split(",")):
        tasks = max(1, size // args.hosts)
        plan = [("replay", None), ("json", None), ("engine", None)]
        if args.store:
            plan.append(("engine", args.store))
        best: dict[str, dict[str, Any]] = {}
        for round_ in range(args.repeat):  # interleaved; the best of each (a noisy machine)
            for name, store in plan:
                label = f"{name}{'-postgresql' if store else ''}@{args.hosts}x{tasks}"
                print(f"  {label} ({round_ + 1}/{args.repeat}) ...", file=sys.stderr)
                figures = measure(name, args.hosts, tasks, store=store)
                if label not in best or figures["seconds"] < best[label]["seconds"]:
                    best[label] = figures
        for name, store in plan:
            label = f"{name}{'-postgresql' if store else ''}@{args.hosts}x{tasks}"
            figures = best[label]
            row: dict[str, Any] = {
                "results": figures["results"], "events": figures["events"],
                "seconds": round(figures["seconds"], 2),
                "results_per_s": round(figures["results"] / figures["seconds"]),
                "events_per_s": round(figures["events"] / figures["seconds"]),
                "peak_rss_mib": round(figures["maxrss_kb"] / 1024, 1)}
            if name == "engine":
                base = results[f"json@{args.hosts}x{tasks}"]
                row["speed_vs_json"] = round(row["events_per_s"] / base["events_per_s"], 3)
                row["collect_seconds"] = round(figures["collect_seconds"], 2)
                row["record_and_store_seconds"] = round(
                    figures["seconds"] - figures["collect_seconds"], 2)
                for key in ("record_bytes", "tasks_listed", "outcome", "truncated"):
                    row[key] = figures[key]
            if not args.no_traced:
                traced = measure(name, args.hosts, tasks, traced=True, store=store)
                row["heap_peak_mib"] = round(traced["heap_peak"] / 2**20, 2)
            results[label] = row
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
