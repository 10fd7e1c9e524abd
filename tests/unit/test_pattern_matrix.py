"""The shared matrix of event-pattern cases from AWS's documentation, against the one pattern
engine that Lambda's event filters, EventBridge rules and SNS filter policies share."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from firebox.filtering import PatternError, check, matches

MATRIX = json.loads((Path(__file__).parents[1] / "fixtures" / "event_patterns.json").read_text())


@pytest.mark.parametrize("case", MATRIX["cases"], ids=lambda c: json.dumps(c["pattern"])[:60])
def test_documented_case(case: dict[str, Any]) -> None:
    assert matches(check(case["pattern"]), MATRIX["event"]) is case["matches"]


@pytest.mark.parametrize("pattern", MATRIX["invalid"], ids=lambda p: json.dumps(p)[:60])
def test_invalid_pattern_refused(pattern: dict[str, Any]) -> None:
    with pytest.raises(PatternError):
        check(pattern)
