"""Admission: how many invocations may run at once, as leases on concurrency.

An invocation runs only with a lease: one of the function's reserved concurrency if it has a
reservation, else one of what the account limit leaves unreserved. Lambda's throttles
(`TooManyRequestsException` with its reasons) come from here. This is the in-process lease
service, for one server; hosts sharing a limit would take their leases from a shared one
behind the same two calls.
"""

from __future__ import annotations

from dataclasses import dataclass

from firebox.domain.errors import TooManyRequestsException


@dataclass(frozen=True)
class Lease:
    """The right of one invocation to run: of a function's reservation, or of the rest."""

    function_name: str
    reserved: bool


class Admission:
    """Counts the leases out: per reserved function, and for everything unreserved."""

    def __init__(self, concurrency_limit: int) -> None:
        self.concurrency_limit = concurrency_limit
        # Reserved concurrency per function: at most that many at once, and subtracted from
        # what every other function may use.
        self.reservations: dict[str, int] = {}
        self._reserved_in_use: dict[str, int] = {}
        self._unreserved_in_use = 0

    @property
    def in_use(self) -> int:
        return self._unreserved_in_use + sum(self._reserved_in_use.values())

    @property
    def unreserved_limit(self) -> int:
        """What functions without a reservation share: the limit minus every reservation."""
        return self.concurrency_limit - sum(self.reservations.values())

    def take(self, function_name: str) -> Lease:
        """A lease for one invocation of the function, or TooManyRequestsException."""
        reserved = self.reservations.get(function_name)
        if reserved is not None:
            if self._reserved_in_use.get(function_name, 0) >= reserved:
                raise TooManyRequestsException(
                    "Rate Exceeded.", Reason="ReservedFunctionConcurrentInvocationLimitExceeded"
                )
            self._reserved_in_use[function_name] = self._reserved_in_use.get(function_name, 0) + 1
            return Lease(function_name, True)
        if self._unreserved_in_use >= self.unreserved_limit:
            raise TooManyRequestsException(
                "Rate Exceeded.", Reason="ConcurrentInvocationLimitExceeded"
            )
        self._unreserved_in_use += 1
        return Lease(function_name, False)

    def give(self, lease: Lease) -> None:
        """Gives a lease back (the invocation ended)."""
        if lease.reserved:
            self._reserved_in_use[lease.function_name] -= 1
        else:
            self._unreserved_in_use -= 1
