#!/usr/bin/python
"""Ansible module: find processes over CPU or memory limits and stop them, TERM then KILL."""
# ruff: noqa: E402, E501 - Ansible module layout: DOCUMENTATION before the imports, one option per line

from __future__ import annotations

DOCUMENTATION = r"""
module: runaway_processes
version_added: "1.0.0"
short_description: Find processes matching a pattern that exceed CPU or memory limits; stop them gently
description:
  - Reads /proc. CPU is measured over I(sample_s) seconds (not the lifetime average C(ps) shows).
  - Never touches PID 1, kernel threads, this module's own ancestors, or a I(protected) command name.
  - With I(stop), sends TERM, waits I(grace_s), then KILL; a PID whose start time changed is left alone.
  - Supports check mode (reports what it would stop) and diff mode.
options:
  pattern: {description: Python regex searched in the command line (argv joined by spaces)., type: str, required: true}
  max_cpu_pct: {description: CPU per cent over the sample above which a process runs away (0 = no CPU limit)., type: float, default: 90}
  max_rss_mb: {description: Resident memory in MiB above which a process runs away (0 = no memory limit)., type: float, default: 0}
  protected: {description: "Command names (comm or argv[0] basename) never touched.", type: list, elements: str, default: []}
  sample_s: {description: Seconds over which CPU is sampled., type: float, default: 2}
  stop: {description: Stop the offenders; false only reports them., type: bool, default: false}
  targets: {description: With I(stop), only these offenders (dicts with pid and start) found by an earlier call., type: list, elements: dict}
  grace_s: {description: Seconds between TERM and KILL., type: float, default: 10}
"""

RETURN = r"""
processes: {description: The offenders, each with pid, start, comm, cmdline, cpu_pct, rss_mb, reasons, result., type: list}
"""

import os
import re
import signal
import time
from typing import Any

from ansible.module_utils.basic import AnsibleModule  # type: ignore[import-untyped]

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def read_stat(pid: int) -> dict[str, Any] | None:
    """The fields of /proc/PID/stat this module uses, or None when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as fh:
            raw = fh.read()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1: raw.rindex(")")]
    rest = raw[raw.rindex(")") + 2:].split()
    return {"pid": pid, "comm": comm, "state": rest[0], "ppid": int(rest[1]),
            "ticks": int(rest[11]) + int(rest[12]), "start": int(rest[19]),
            "rss": int(rest[21]) * PAGE}


def read_cmdline(pid: int) -> list[str]:
    """The process's argv (empty for kernel threads and zombies)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            raw = fh.read()
    except OSError:
        return []
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0")[:-1]]


def own_ancestors() -> set[int]:
    """This module's PID and every ancestor's: the Ansible connection that runs us."""
    seen, pid = set(), os.getpid()
    while pid > 0 and pid not in seen:
        seen.add(pid)
        stat = read_stat(pid)
        pid = stat["ppid"] if stat else 0
    return seen


def candidates(pattern: re.Pattern[str], protected: set[str]) -> list[dict[str, Any]]:
    """Processes whose command line matches, minus PID 1, kernel threads, ours and protected ones."""
    skip = own_ancestors()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) <= 1 or int(entry) in skip:
            continue
        pid = int(entry)
        argv = read_cmdline(pid)
        stat = read_stat(pid)
        if not argv or stat is None or stat["state"] == "Z":
            continue
        names = {stat["comm"], os.path.basename(argv[0])}
        cmdline = " ".join(argv)
        if names & protected or not pattern.search(cmdline):
            continue
        found.append({**stat, "cmdline": cmdline})
    return found


def measure(procs: list[dict[str, Any]], sample_s: float) -> list[dict[str, Any]]:
    """Each process with its CPU per cent over the sample and its resident MiB (gone ones dropped)."""
    t0 = time.monotonic()
    time.sleep(sample_s)
    elapsed = time.monotonic() - t0
    out = []
    for proc in procs:
        now = read_stat(proc["pid"])
        if now is None or now["start"] != proc["start"]:
            continue
        cpu = (now["ticks"] - proc["ticks"]) / CLK_TCK / elapsed * 100
        out.append({"pid": proc["pid"], "start": proc["start"], "comm": proc["comm"],
                    "cmdline": proc["cmdline"], "cpu_pct": round(cpu, 1),
                    "rss_mb": round(now["rss"] / 1048576, 1)})
    return out


def alive(pid: int, start: int) -> bool:
    """True while the same process (same start time) exists and is not a zombie."""
    stat = read_stat(pid)
    return stat is not None and stat["start"] == start and stat["state"] not in ("Z", "X")


def wait_gone(procs: list[dict[str, Any]], timeout: float) -> list[dict[str, Any]]:
    """Wait up to ``timeout`` s; return the processes still alive."""
    deadline = time.monotonic() + timeout
    left = [p for p in procs if alive(p["pid"], p["start"])]
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = [p for p in left if alive(p["pid"], p["start"])]
    return left


def send(procs: list[dict[str, Any]], sig: signal.Signals, result: str) -> None:
    """Send ``sig`` to each still-alive process and note it."""
    for proc in procs:
        if alive(proc["pid"], proc["start"]):
            try:
                os.kill(proc["pid"], sig)
                proc["result"] = result
            except ProcessLookupError:
                pass


def main() -> None:
    """Run the module."""
    module = AnsibleModule(
        argument_spec={
            "pattern": {"type": "str", "required": True},
            "max_cpu_pct": {"type": "float", "default": 90.0},
            "max_rss_mb": {"type": "float", "default": 0.0},
            "protected": {"type": "list", "elements": "str", "default": []},
            "sample_s": {"type": "float", "default": 2.0},
            "stop": {"type": "bool", "default": False},
            "targets": {"type": "list", "elements": "dict"},
            "grace_s": {"type": "float", "default": 10.0},
        },
        supports_check_mode=True,
    )
    p = module.params
    try:
        pattern = re.compile(p["pattern"])
    except re.error as exc:
        module.fail_json(msg=f"bad pattern {p['pattern']!r}: {exc}")
    if p["max_cpu_pct"] <= 0 and p["max_rss_mb"] <= 0:
        module.fail_json(msg="set max_cpu_pct or max_rss_mb (or both) above 0")
    measured = measure(candidates(pattern, set(p["protected"])), p["sample_s"])
    offenders = []
    for proc in measured:
        reasons = []
        if 0 < p["max_cpu_pct"] < proc["cpu_pct"]:
            reasons.append(f"cpu {proc['cpu_pct']}% > {p['max_cpu_pct']}%")
        if 0 < p["max_rss_mb"] < proc["rss_mb"]:
            reasons.append(f"rss {proc['rss_mb']} MiB > {p['max_rss_mb']} MiB")
        if reasons:
            offenders.append({**proc, "reasons": reasons, "result": "running"})
    if p["stop"] and p["targets"] is not None:
        wanted = {(int(t["pid"]), int(t["start"])) for t in p["targets"]}
        offenders = [o for o in offenders if (o["pid"], o["start"]) in wanted]
    if not p["stop"] or not offenders:
        module.exit_json(changed=False, processes=offenders, matched=len(measured))
    lines = "".join(f"{o['pid']} {o['cmdline']} ({', '.join(o['reasons'])})\n" for o in offenders)
    diff = {"before": lines, "after": "", "before_header": "runaway processes",
            "after_header": "after stopping them"}
    if module.check_mode:
        for proc in offenders:
            proc["result"] = "would stop (TERM, then KILL after grace)"
        module.exit_json(changed=True, processes=offenders, matched=len(measured), diff=diff)
    send(offenders, signal.SIGTERM, "stopped by TERM")
    survivors = wait_gone(offenders, p["grace_s"])
    send(survivors, signal.SIGKILL, "stopped by KILL")
    stuck = wait_gone(survivors, 5.0)
    for proc in stuck:
        proc["result"] = "still running after KILL"
    if stuck:
        module.fail_json(msg=f"{len(stuck)} process(es) survived KILL: "
                         f"{', '.join(str(s['pid']) for s in stuck)}", processes=offenders, diff=diff)
    module.exit_json(changed=True, processes=offenders, matched=len(measured), diff=diff)


if __name__ == "__main__":
    main()
