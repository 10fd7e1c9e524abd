"""CloudWatch Logs filter patterns, as FilterLogEvents applies them: terms, phrases,
alternatives, exclusions, and JSON patterns."""

from __future__ import annotations

import pytest

from firebox.telemetry.patterns import PatternError, compile_pattern

LINES = [
    "ERROR disk full on /dev/sda",
    "WARN disk almost full",
    "INFO request served in 12 ms",
    '{"level": "ERROR", "status": 500, "user": {"id": 7, "tags": ["a", "b"]}, "ok": false}',
    '{"level": "INFO", "status": 200, "latency": 12.5, "user": null}',
    '{"level": "ERROR", "status": 503, "region": "eu-west-1"}',
]


def kept(pattern: str) -> list[int]:
    match = compile_pattern(pattern)
    assert match is not None
    return [i for i, line in enumerate(LINES) if match(line)]


@pytest.mark.parametrize(("pattern", "expected"), [
    ("ERROR", [0, 3, 5]),
    ("ERROR disk", [0]),
    ('"disk full"', [0]),
    ("?ERROR ?WARN", [0, 1, 3, 5]),
    ("disk -ERROR", [1]),
    ('{ $.level = "ERROR" }', [3, 5]),
    ("{ $.level = ERROR }", [3, 5]),
    ("{ $.status >= 500 }", [3, 5]),
    ("{ $.status != 500 }", [4, 5]),
    ('{ ($.status = 500) || ($.region = "eu-*") }', [3, 5]),
    ('{ $.level = "ERROR" && $.status < 501 }', [3]),
    ("{ $.user.id = 7 }", [3]),
    ('{ $.user.tags[1] = "b" }', [3]),
    ("{ $.user IS NULL }", [4]),
    ("{ $.ok IS FALSE }", [3]),
    ("{ $.latency EXISTS }", [4]),
    ("{ $.region NOT EXISTS }", [3, 4]),
    ("{ $.latency > 12 }", [4]),
])  # fmt: skip
def test_patterns(pattern: str, expected: list[int]) -> None:
    assert kept(pattern) == expected


def test_empty_patterns_match_everything() -> None:
    assert compile_pattern(None) is None and compile_pattern("  ") is None


@pytest.mark.parametrize("bad", ["{ $.a = ", "{ level = 1 }", "{ $.a ~ 1 }", "{ $.a = 1",
                                 '{ $.a > "x" }', "[ip, user]", "{ ($.a = 1 }"])  # fmt: skip
def test_bad_patterns_are_refused(bad: str) -> None:
    with pytest.raises(PatternError):
        compile_pattern(bad)
