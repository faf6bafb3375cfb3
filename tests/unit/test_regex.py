"""User-written regexes run on RE2: linear time, Alertmanager's semantics, refusals named."""

from __future__ import annotations

import copy
import pickle
import time

import pytest

from remediator.models import Matcher, MatchOp, Target
from remediator.regex import Anchored, RegexError, Searcher


@pytest.mark.parametrize("length", [41, 100_000])
def test_a_backtracking_bomb_takes_linear_time(length: int) -> None:
    """``(a+)+$`` against a run of a's with a wrong last character: Python's re takes minutes
    at 41 characters; here 100,000 take well under a second."""
    matcher = Matcher("instance", MatchOp.RE, "(a+)+$")
    started = time.monotonic()
    assert matcher.matches({"instance": "a" * (length - 1) + "!"}) is False
    assert matcher.matches({"instance": "a" * length}) is True
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(("pattern", "value", "expected"), [
    ("warn|crit", "warn", True),
    ("warn|crit", "warning", False),  # anchored at both ends: ^(?:warn|crit)$
    ("warn|crit", "xcrit", False),
    ("a", "a\n", False),  # $ is the end of the text, not before a final newline (Go)
    (".*", "a\nb", False),  # . does not match a newline
    ("(?s).*", "a\nb", True),
    (r"\d+", "١٢", False),  # \d is ASCII, as in Go
    (r"\d+", "12", True),
    ("(?i)critical", "CRITICAL", True),
    ("", "", True),
    ("[[:alpha:]]+", "abc", True),
    (r"\pL+", "été", True),
    ("x{2,3}", "xxxx", False),
])
def test_regexes_have_alertmanagers_semantics(pattern: str, value: str, expected: bool
                                              ) -> None:
    assert Matcher("l", MatchOp.RE, pattern).matches({"l": value}) is expected
    assert Matcher("l", MatchOp.NRE, pattern).matches({"l": value}) is not expected


@pytest.mark.parametrize(("pattern", "reason"), [
    (r"(a)\1", r"invalid escape sequence: \1"),  # a backreference
    ("(?=a)a", "invalid perl operator: (?="),  # lookahead
    ("(?<=a)b", "invalid perl operator: (?<"),  # lookbehind
    (r"a\Z", r"invalid escape sequence: \Z"),
    ("a)|(b", "unexpected ): a)|(b"),  # would escape Alertmanager's (?:...) group
    ("web[0-9", "missing ]: [0-9"),
    ("a{1001}", "invalid repetition size: {1001}"),
])
def test_what_re2_cannot_compile_is_a_regex_error_with_its_reason(pattern: str, reason: str
                                                                    ) -> None:
    with pytest.raises(RegexError) as caught:
        Matcher("l", MatchOp.RE, pattern)
    assert reason in str(caught.value)
    assert repr(pattern) in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_a_lone_surrogate_in_a_label_is_read_as_a_replacement_character() -> None:
    """Text UTF-8 cannot hold never breaks a match: it is U+FFFD, as Go reads invalid UTF-8."""
    assert Matcher("l", MatchOp.RE, ".+").matches({"l": "\ud800"})
    assert Matcher("l", MatchOp.RE, "x\ufffdy").matches({"l": "x\udfffy"})
    assert Matcher("l", MatchOp.NRE, "x.y").matches({"l": "x\ud800y"}) is False
    assert Target(pattern="^(.)").host_part("\ud800:9100") == "\ufffd"


def test_equality_copies_and_pickles_ignore_the_compiled_form() -> None:
    matcher = Matcher("severity", MatchOp.RE, "warn|crit")
    for other in (copy.deepcopy(matcher), pickle.loads(pickle.dumps(matcher))):
        assert other == matcher
        assert hash(other) == hash(matcher)
        assert other.matches({"severity": "crit"}) and not other.matches({"severity": "info"})
    assert repr(matcher) == "Matcher(label='severity', op=<MatchOp.RE: '=~'>, value='warn|crit')"
    target = Target(pattern="^svc://([^/]+)/")
    assert pickle.loads(pickle.dumps(target)) == target


def test_results_stay_right_past_the_memo_size() -> None:
    """Many distinct values (and long ones) are matched the same as the first few."""
    anchored = Anchored("host-[0-9]*0")
    values = [f"host-{n}" for n in range(3000)] + ["host-" + "1" * 500 + "0"]
    assert [anchored.matches(v) for v in values] == [v.endswith("0") for v in values]
    assert [anchored.matches(v) for v in values] == [v.endswith("0") for v in values]


def test_a_searcher_gives_group_one_of_the_leftmost_match() -> None:
    searcher = Searcher("svc://([^/]*)/")
    assert searcher.groups == 1
    assert searcher.first_group("x svc://web-01/y svc://web-02/") == "web-01"
    assert searcher.first_group("nothing here") is None
    assert Searcher("(a)|(b)").first_group("b") is None  # group 1 took no part
    assert Target(pattern="svc://([^/]*)/").host_part("svc:///") is None  # an empty group
    assert Target().host_part("web-01:9100") == "web-01:9100"
