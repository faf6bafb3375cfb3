"""Which catalog entries a history cannot judge: its incidents lack label names they need.

A PagerDuty export of Alertmanager titles knows ``alertname`` and perhaps ``instance``, never
``severity`` or ``mountpoint`` (see ``titles.py``). An entry matching on those would match
none of its incidents, and "no entry matches" would be a wrong answer: the history cannot
tell. A label counts as lacking only when no incident of the whole history carries it (an
Alertmanager log whose one alert has no ``severity`` is judged as it is: no entry matches), so
the history's label names are gathered first (``see``), or, for the reports that judge as
they read, the absent names are kept per entry and settled against the whole history at the end
(``defer``, ``settle``). ``Coverage`` counts, per entry, the incidents it could not judge and the
label names that were missing, so that ``simulate`` and the reports say so.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..models import Matcher, Remediation

LABELS_KEPT = 64  # label names of the history remembered for the message (bounded memory)
_NOTHING: Mapping[str, str] = {}


class Coverage:
    """Per entry: the incidents a history lacked the labels to judge, and which labels."""

    def __init__(self, entries: Iterable[Remediation]) -> None:
        # per entry, the matchers that need their label: those that fail on a missing label
        self._needs: dict[str, tuple[Matcher, ...]] = {
            e.name: tuple(m for m in e.matchers if not m.matches(_NOTHING)) for e in entries}
        self._targets = {e.name: e.target.label for e in entries}
        self._order = {name: at for at, name in enumerate(self._needs)}
        self.seen: set[str] = set()  # label names the history's incidents carry
        self.missing: dict[str, set[str]] = {}
        self.counts: Counter[str] = Counter()
        # (entry, label names an unmatched incident lacked) -> incidents, until ``settle``
        self._deferred: Counter[tuple[str, frozenset[str]]] = Counter()

    def see(self, labels: Mapping[str, str]) -> None:
        """Remember the label names of one incident of the history (before judging any; past
        LABELS_KEPT names the history is rich enough that nothing further is remembered)."""
        if len(self.seen) < LABELS_KEPT:
            self.seen.update(labels)

    def unmatched(self, labels: Mapping[str, str], entries: Sequence[Remediation] | None = None
                  ) -> tuple[str, ...]:
        """The entries (of ``entries``, else all) that might have matched an alert no entry
        matched, had the history carried the labels it lacks; each is counted."""
        names = self._needs if entries is None else [e.name for e in entries]
        found = []
        for name in names:
            needs = self._needs[name]
            absent = {m.label for m in needs if m.label not in labels} - self.seen
            if absent and all(m.matches(labels) for m in needs if m.label in labels):
                self._count(name, absent)
                found.append(name)
        return tuple(found)

    def defer(self, labels: Mapping[str, str], entries: Sequence[Remediation]) -> None:
        """``unmatched`` for one pass over the history: an incident no entry matched is seen,
        and the label names it lacked are kept per entry of ``entries`` until ``settle``
        (bounded: one count per entry and set of absent names)."""
        if len(self.seen) < LABELS_KEPT:
            self.seen.update(labels)
        for entry in entries:
            absent: list[str] = []
            for matcher in self._needs[entry.name]:
                if matcher.label not in labels:
                    absent.append(matcher.label)
                elif not matcher.matches(labels):
                    break
            else:
                if absent:
                    self._deferred[(entry.name, frozenset(absent))] += 1

    def settle(self) -> None:
        """Count the deferred incidents whose absent labels no incident of the history had."""
        for (name, absent), incidents in self._deferred.items():
            lacking = absent - self.seen
            if lacking:
                self.counts[name] += incidents
                self.missing.setdefault(name, set()).update(lacking)
        self._deferred.clear()

    def untargeted(self, labels: Mapping[str, str], entry: Remediation) -> bool:
        """True (and counted) when ``entry`` matched but the history lacks its target label."""
        label = entry.target.label
        if label in labels or label in self.seen or entry.name not in self._needs:
            return False
        self._count(entry.name, {label})
        return True

    def _count(self, name: str, absent: set[str]) -> None:
        self.counts[name] += 1
        self.missing.setdefault(name, set()).update(absent)

    def gaps(self) -> list[dict[str, Any]]:
        """Per entry that could not judge some incidents: the labels it needs that the history
        lacks, the label names the history has, and how many incidents (catalog order)."""
        has = sorted(self.seen)
        return [{"entry": name, "needs": sorted(self.missing[name]), "history_has": has,
                 "incidents": self.counts[name]}
                for name in sorted(self.counts, key=self._order.__getitem__)]


def gap_lines(gaps: Sequence[Mapping[str, Any]], source: str) -> tuple[str, ...]:
    """One sentence per entry of ``gaps`` (from ``Coverage.gaps``)."""
    return tuple(
        f"entry {g['entry']}: it needs label{'s' if len(g['needs']) > 1 else ''} "
        f"{', '.join(g['needs'])}; this history ({source}) has "
        f"{', '.join(g['history_has']) or 'no labels'} only: {g['incidents']} incident"
        f"{'s' if g['incidents'] != 1 else ''} could not be matched" for g in gaps)
