"""Progress on stderr: counts with their total and rate; live on a terminal, a few plain
lines otherwise, nothing when quiet and never anything on stdout."""

from __future__ import annotations

import re

import pytest

from remediator.cli.progress import meter
from remediator.cli.simulate_cmds import _phases


def test_quiet_means_no_meter() -> None:
    with meter(quiet=True) as progress:
        assert progress is None


def test_plain_lines_when_stderr_is_not_a_terminal(capsys: pytest.CaptureFixture[str]
                                                   ) -> None:
    """One line per call: the count, the total when known, and the rate."""
    with meter(quiet=False) as progress:
        assert progress is not None
        progress("rows read", 50_000)
        progress("alerts decided", 50_000, 120_000)
    out, err = capsys.readouterr()
    assert out == ""
    first, second = err.splitlines()
    assert re.fullmatch(r"  50,000 rows read(, [\d,]+/s)?", first)
    assert re.fullmatch(r"  50,000 of 120,000 alerts decided(, [\d,]+/s)?", second)


def test_a_terminal_gets_a_live_line_with_total_and_rate(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal (FORCE_COLOR says stderr is one) the meter draws a live line on stderr
    ending with the last count of its total and a rate."""
    monkeypatch.setenv("FORCE_COLOR", "1")
    with meter(quiet=False) as progress:
        assert progress is not None
        progress("alerts decided", 60_000, 120_000)
    out, err = capsys.readouterr()
    assert out == ""
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", err)
    assert "60,000 of 120,000 alerts decided" in plain and "/s" in plain


def test_simulate_decides_towards_the_sorted_total(capsys: pytest.CaptureFixture[str]
                                                   ) -> None:
    """simulate's phases: the last count sorted is the total to decide."""
    with meter(quiet=False) as progress:
        phase = _phases(progress)
        assert phase is not None
        phase("sorted", 50_000)
        phase("sorted", 75_000)
        phase("decided", 50_000)
    lines = capsys.readouterr().err.splitlines()
    assert lines[1].startswith("  75,000 alerts sorted")
    assert lines[2].startswith("  50,000 of 75,000 alerts decided")
