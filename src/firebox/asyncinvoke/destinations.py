"""Delivering asynchronous invocations' records and dead letters to their destinations.

A delivery is a follow-up: work stored in the same transaction that settles the event, so a
record is exactly as durable as the event it describes. A function's is an Event invoke; a
queue's, topic's or bus's is a `send` event, which the drain hands to sending.py instead of
invoking (its function_name column holds the target's ARN).
"""

from __future__ import annotations

import json

from firebox.asyncinvoke.queue import NewEvent
from firebox.domain.destinations import Destination, FunctionDestination
from firebox.worker.invocation import new_request_id

SEND = "send"


def deliver(
    target: Destination, payload: bytes, kind: str, now: float, function_arn: str = "",
    condition: str = "",
) -> list[NewEvent]:  # fmt: skip
    """The follow-ups that deliver payload to a target."""
    if isinstance(target, FunctionDestination):
        return [NewEvent(target.name, target.qualifier, payload, new_request_id(), now, kind)]
    if target.service == "events":  # as Lambda puts a record on a bus
        outcome = "Success" if condition == "Success" else "Failure"
        payload = json.dumps({
            "Source": "lambda", "DetailType": f"Lambda Function Invocation Result - {outcome}",
            # AWS names the bus and the function version that ran
            "Detail": payload.decode(), "Resources": [target.arn, function_arn],
        }).encode()  # fmt: skip
    # A send's qualifier column (unused otherwise) says what it delivers and for whom: a
    # delivery that fails for good is counted as DeadLetterErrors or DestinationDeliveryFailures.
    source = f"{kind}|{function_arn}" if function_arn else None
    return [NewEvent(target.arn, source, payload, new_request_id(), now, SEND)]


def send_source(qualifier: str | None) -> tuple[str, str | None] | None:
    """(function, qualifier) whose dead letter or record a send carries, from its column;
    None for a send of something else (a rule's, a schedule's)."""
    kind, _, arn = (qualifier or "").partition("|")
    parts = arn.split(":")
    if kind not in ("dead-letter", "destination") or len(parts) < 7:
        return None
    return parts[6], parts[7] if len(parts) > 7 else None
