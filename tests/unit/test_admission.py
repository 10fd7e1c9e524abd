"""Admission's leases: Lambda's account limit, reserved concurrency and their throttles."""

from __future__ import annotations

import pytest

from firebox.domain.errors import TooManyRequestsException
from firebox.worker.admission import Admission


def _reason(admission: Admission, name: str) -> str:
    with pytest.raises(TooManyRequestsException) as throttled:
        admission.take(name)
    return str(throttled.value.extra["Reason"])


def test_unreserved_functions_share_what_reservations_leave() -> None:
    admission = Admission(concurrency_limit=5)
    admission.reservations["reserved"] = 2
    leases = [admission.take("a"), admission.take("b"), admission.take("a")]
    assert admission.unreserved_limit == 3 and admission.in_use == 3
    assert _reason(admission, "c") == "ConcurrentInvocationLimitExceeded"
    admission.give(leases.pop())
    admission.take("c")  # a lease given back is a lease to take


def test_a_reservation_is_both_a_floor_and_a_ceiling() -> None:
    admission = Admission(concurrency_limit=5)
    admission.reservations["reserved"] = 2
    for name in ("a", "b", "c"):  # the others take all they may
        admission.take(name)
    first, _ = admission.take("reserved"), admission.take("reserved")  # still there for it
    assert first.reserved and admission.in_use == 5
    assert _reason(admission, "reserved") == "ReservedFunctionConcurrentInvocationLimitExceeded"
    admission.give(first)
    assert admission.take("reserved").reserved
