"""The event pattern syntax (Lambda filters, EventBridge rules, SNS filter policies)."""

from __future__ import annotations

import pytest

from firebox.filtering import PatternError, check, matches

EVENT = {
    "source": "orders", "detail": {"state": "paid", "amount": 120, "tags": ["rush", "gift"],
                                   "city": "Lisbon", "ip": "10.0.3.4", "note": None},
}  # fmt: skip


@pytest.mark.parametrize(("pattern", "expected"), [
    ({"source": ["orders"]}, True),
    ({"source": ["refunds", "orders"]}, True),
    ({"source": ["refunds"]}, False),
    ({"detail": {"amount": [120.0]}}, True),  # numbers by value
    ({"detail": {"state": [{"prefix": "pa"}]}}, True),
    ({"detail": {"state": [{"suffix": "id"}]}}, True),
    ({"detail": {"city": [{"prefix": {"equals-ignore-case": "lis"}}]}}, True),
    ({"detail": {"city": [{"equals-ignore-case": "LISBON"}]}}, True),
    ({"detail": {"state": [{"anything-but": ["refunded", "void"]}]}}, True),
    ({"detail": {"state": [{"anything-but": "paid"}]}}, False),
    ({"detail": {"state": [{"anything-but": {"prefix": "pa"}}]}}, False),
    ({"detail": {"amount": [{"numeric": [">", 100, "<=", 200]}]}}, True),
    ({"detail": {"amount": [{"numeric": ["<", 100]}]}}, False),
    ({"detail": {"tags": ["gift"]}}, True),  # any item of a list
    ({"detail": {"missing": [{"exists": False}]}}, True),
    ({"detail": {"state": [{"exists": True}]}}, True),
    ({"detail": {"missing": [{"exists": True}]}}, False),
    ({"detail": {"missing": ["x"]}}, False),
    ({"detail": {"note": [None]}}, True),
    ({"detail": {"ip": [{"cidr": "10.0.0.0/16"}]}}, True),
    ({"detail": {"city": [{"wildcard": "L*on"}]}}, True),
    ({"$or": [{"source": ["x"]}, {"detail": {"state": ["paid"]}}]}, True),
    ({"$or": [{"source": ["x"]}, {"detail": {"state": ["void"]}}]}, False),
    ({"source": ["orders"], "detail": {"state": ["void"]}}, False),  # every field must match
])  # fmt: skip
def test_matching(pattern: dict[str, object], expected: bool) -> None:
    assert matches(check(pattern), EVENT) is expected


@pytest.mark.parametrize("bad", [
    [], {"a": "not a list"}, {"a": []}, {"a": [{"nope": 1}]}, {"a": [{"numeric": [">"]}]},
    {"a": [{"exists": "yes"}]}, {"$or": [{"a": [1]}]}, {"a": [{"cidr": "nope"}]},
    # accepted once, then failed every match: anything-but's inner value must be strings
    {"a": [{"anything-but": {"prefix": 1}}]}, {"a": [{"anything-but": {"wildcard": [1]}}]},
    {"a": [{"numeric": [">", True]}]},
])  # fmt: skip
def test_malformed_patterns(bad: object) -> None:
    with pytest.raises(PatternError):
        check(bad)
