"""bench/matchers: catalog label matching on RE2 against Python's backtracking ``re``.

Typical case: 100,000 label matches against the regex matchers catalogs hold
(``severity=~"warning|critical"``, ``instance=~"web-[0-9]+:9100"``, ...), over label values
drawn as alerts send them (a few hundred distinct, repeated), through ``Matcher.matches``
(RE2, what every path that matches uses) and through ``re.fullmatch`` as ``matches`` was before,
interleaved, best of ``--rounds``; a second figure with every value distinct (no repeats).

Pathological case: ``(a+)+$`` against ``a`` * n + ``!``: ``re`` for n up to ``--bomb``
(its time doubles with each character), RE2 for n = 41 and n = 100,000.

    .venv/bin/python bench/matchers.py [--matches 100000] [--rounds 5] [--bomb 24]

Target (issue 18, item 8): linear time in the label whatever the pattern; a typical match
within a small factor of ``re``'s.
"""

from __future__ import annotations

import argparse
import random
import re
import time
from collections.abc import Callable

from remediator.models import Matcher, MatchOp

TYPICAL = (
    ("severity", "warning|critical"),
    ("instance", "web-[0-9]+:9100"),
    ("job", "node|node_exporter|blackbox"),
    ("mountpoint", "/|/var(/.*)?"),
    ("env", "prod.*"),
    ("service", "(api|web|worker)-[a-z]+"),
)


def values(label: str, rng: random.Random, distinct: bool, n: int) -> list[str]:
    """``n`` label values for ``label``: a few hundred repeated, or all distinct."""
    pool = {
        "severity": ["warning", "critical", "info", "page"],
        "instance": [f"web-{i}:9100" for i in range(200)] + [f"db-{i}:9100" for i in range(50)],
        "job": ["node", "node_exporter", "blackbox", "mysqld"],
        "mountpoint": ["/", "/var", "/var/lib/docker", "/home", "/boot"],
        "env": ["prod", "production", "staging", "dev"],
        "service": ["api-gateway", "web-frontend", "worker-mail", "cache"],
    }[label]
    if distinct:
        return [f"{rng.choice(pool)}-{i}" for i in range(n)]
    return [rng.choice(pool) for _ in range(n)]


def before(matcher: Matcher, labels: dict[str, str]) -> bool:
    """``Matcher.matches`` as it was on Python's ``re`` (for a regex operator)."""
    found = re.fullmatch(matcher.value, labels.get(matcher.label, "")) is not None
    return found if matcher.op is MatchOp.RE else not found


def timed(check: Callable[[str], object], items: list[str]) -> float:
    started = time.perf_counter()
    for item in items:
        check(item)
    return time.perf_counter() - started


def typical(matches: int, rounds: int, distinct: bool) -> tuple[float, float]:
    """Best seconds for ``matches`` label matches: (RE2 via Matcher, re.fullmatch)."""
    rng = random.Random(18)
    per = matches // len(TYPICAL)
    cases = [(Matcher(label, MatchOp.RE, pattern), values(label, rng, distinct, per))
             for label, pattern in TYPICAL]
    best_re2 = best_re = float("inf")
    for _ in range(rounds):
        re2_s = re_s = 0.0
        for matcher, items in cases:
            label = matcher.label
            re2_s += timed(lambda v, m=matcher, k=label: m.matches({k: v}), items)
            re_s += timed(lambda v, m=matcher, k=label: before(m, {k: v}), items)
        best_re2, best_re = min(best_re2, re2_s), min(best_re, re_s)
    return best_re2, best_re


def bomb(limit: int) -> None:
    matcher = Matcher("instance", MatchOp.RE, "(a+)+$")
    print("pathological (a+)+$ against 'a' * n + '!':")
    for n in range(limit - 6, limit + 1, 2):
        text = "a" * n + "!"
        started = time.perf_counter()
        re.fullmatch("(a+)+$", text)
        print(f"  re   n={n:>7,}: {time.perf_counter() - started:10.4f} s")
    for n in (41, 100_000):
        text = "a" * n + "!"
        started = time.perf_counter()
        matcher.matches({"instance": text})
        print(f"  RE2  n={n:>7,}: {time.perf_counter() - started:10.6f} s")
    print(f"  re at n=41 would take about 2^{41 - limit} times its n={limit} time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matches", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--bomb", type=int, default=24)
    args = parser.parse_args()
    for distinct in (False, True):
        re2_s, re_s = typical(args.matches, args.rounds, distinct)
        kind = "every value distinct" if distinct else "values repeated as alerts send them"
        print(f"typical, {kind}: {args.matches:,} matches, best of {args.rounds}: "
              f"RE2 {re2_s * 1e3:.1f} ms ({args.matches / re2_s:,.0f}/s), "
              f"re {re_s * 1e3:.1f} ms ({args.matches / re_s:,.0f}/s), "
              f"RE2/re {re2_s / re_s:.2f}")
    bomb(args.bomb)


if __name__ == "__main__":
    main()
