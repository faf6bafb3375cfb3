"""`report candidates`: ranks and reasoning over incident streams with known answers."""

from __future__ import annotations

import json
import random
import statistics
from datetime import UTC, datetime, timedelta

import pytest

from remediator.history import Incident
from remediator.models import Matcher, MatchOp, Remediation, Stage
from remediator.reports.candidates import candidates
from remediator.reports.text import render_text

NOW = datetime(2026, 3, 2, tzinfo=UTC)
T0 = datetime(2026, 2, 2, tzinfo=UTC)


def entry(name: str, alertname: str, stage: Stage = Stage.OBSERVE, **labels: str
          ) -> Remediation:
    """A catalog entry matching ``alertname`` (and label equalities)."""
    matchers = (Matcher("alertname", MatchOp.EQ, alertname),
                *(Matcher(k, MatchOp.EQ, v) for k, v in labels.items()))
    return Remediation(name=name, matchers=matchers, playbook="p.yml", playbook_path="/p.yml",
                       stage=stage)


CATALOG = [entry("disk-cleanup", "DiskSpaceLow", Stage.OVERSIGHT),
           entry("inodes-fix", "InodesLow", severity="critical")]


def make(rng: random.Random, name: str, n: int, *, human: list[bool | None],
         host_share: float = 1.0, services: tuple[str, ...] = (), runbook: bool = False,
         severity: tuple[str, ...] = ("warning",)) -> list[Incident]:
    """``n`` occurrences of ``name`` with random durations; ``human`` cycles."""
    out = []
    for i in range(n):
        started = T0 + timedelta(minutes=rng.randrange(20_000))
        minutes = rng.choice([3, 8, 12, 20, 35, 60])
        out.append(Incident(
            source="test", name=name, fingerprint=f"{name}-{i}", started=started,
            resolved=started + timedelta(minutes=minutes) if i % 9 else None,
            host="web-01" if i < host_share * n else None,
            service=services[i % len(services)] if services else None,
            labels={"alertname": name, "severity": severity[i % len(severity)]},
            annotations={"runbook_url": "https://runbooks.example/disk"} if runbook else {},
            human=human[i % len(human)]))
    return out


def history() -> list[Incident]:
    rng = random.Random(5)
    items = (make(rng, "DiskSpaceLow", 40, human=[True, True, True, False], services=("storage",),
                  runbook=True)
             + make(rng, "ServiceDown", 60, human=[True], host_share=0.5,
                    services=("web", "api"))
             + make(rng, "HighLatency", 100, human=[None])
             + make(rng, "Ignored", 50, human=[False], services=("batch",))
             + make(rng, "InodesLow", 30, human=[True, None],
                    severity=("critical", "warning", "warning")))
    rng.shuffle(items)
    return items


def expected(items: list[Incident]) -> dict[str, dict]:
    """The numbers the report should show, worked out here from the incidents themselves."""
    out = {}
    for name in {i.name for i in items}:
        mine = [i for i in items if i.name == name]
        took = {id(i): (i.resolved - i.started).total_seconds() for i in mine if i.resolved}
        person = [took[id(i)] for i in mine if i.human and id(i) in took]
        handling = statistics.median(person) if person else statistics.median(took.values())
        workload = sum(1 for i in mine if i.human is not False)
        toil = workload * handling / 3600
        signals = 0
        signals += sum(1 for i in mine if i.host) / len(mine) >= 0.9
        signals += len({i.service for i in mine if i.service}) == 1
        signals += name == "DiskSpaceLow"  # the only type an entry matches for 50%+
        signals += any(i.annotations.get("runbook_url") for i in mine)
        out[name] = {"workload": workload, "handling_s": handling, "toil": toil,
                     "simplicity": signals, "score": toil * (0.5 + 0.125 * signals),
                     "basis": "person" if person else "time to resolve"}
    return out


def test_types_are_ranked_by_toil_weighed_by_simplicity() -> None:
    """Rank order, toil, handling time and simplicity match the test's own arithmetic."""
    items = history()
    want = expected(items)
    doc = candidates(iter(items), CATALOG, now=NOW)
    got = {c["name"]: c for c in doc.data["candidates"]}
    order = sorted(want, key=lambda n: (-round(want[n]["score"], 2), -want[n]["toil"], n))
    assert [c["name"] for c in doc.data["candidates"]] == order
    assert [c["rank"] for c in doc.data["candidates"]] == list(range(1, len(order) + 1))
    for name, numbers in want.items():
        assert got[name]["workload"] == numbers["workload"]
        assert got[name]["handling_s"] == pytest.approx(numbers["handling_s"], abs=0.05)
        assert got[name]["handling_basis"] == numbers["basis"]
        assert got[name]["toil_hours"] == pytest.approx(numbers["toil"], abs=0.01)
        assert got[name]["simplicity"] == numbers["simplicity"]
        assert got[name]["score"] == pytest.approx(numbers["score"], abs=0.01)
    assert got["Ignored"]["toil_hours"] == 0 and order[-1] == "Ignored"


def test_each_row_says_why() -> None:
    """The reasoning names the handled count, the basis and each signal met or missed."""
    doc = candidates(history(), CATALOG, now=NOW)
    notes = {n.split(":", 1)[0].split(" ", 1)[1]: n for n in doc.tables[0].notes}
    disk = notes["DiskSpaceLow"]
    assert "30 occurrence(s) a person handled" in disk
    assert "median time a person took" in disk
    assert "one host each (100%)" in disk and "one service (storage)" in disk
    assert "catalog entry disk-cleanup (oversight) matches 100%" in disk
    assert "runbook https://runbooks.example/disk" in disk
    latency = notes["HighLatency"]
    assert "100 occurrence(s) a person handled or may have" in latency
    assert "median time to resolve (a proxy: no person was seen acting)" in latency
    assert "simplicity 1/4: one host each (100%); not: one service, catalog entry, runbook" \
        in latency


def test_an_entry_matching_few_occurrences_is_shown_but_not_a_signal() -> None:
    """inodes-fix matches only severity=critical, a third of InodesLow: no signal."""
    doc = candidates(history(), CATALOG, now=NOW)
    inodes = next(c for c in doc.data["candidates"] if c["name"] == "InodesLow")
    assert inodes["entry"] == "inodes-fix"
    assert inodes["entry_share"] == pytest.approx(10 / 30, abs=1e-4)
    assert inodes["signals"]["catalog entry"] is False
    row = next(r for r in doc.tables[0].rows if r[1] == "InodesLow")
    assert row[-1] == "inodes-fix (33%)"


def test_without_a_catalog_no_entry_signal_and_plain_json() -> None:
    """No catalog: nobody gets the entry signal; the data is strict JSON; the text renders."""
    doc = candidates(history(), [], now=NOW)
    assert not any(c["signals"]["catalog entry"] for c in doc.data["candidates"])
    json.dumps(doc.data, allow_nan=False)
    text = render_text(doc)
    assert "Automation candidates, best first" in text and "#1 " in text
