"""`/_firebox/cost` (firebox's own): what the traffic that ran would have cost on AWS Lambda,
by function or by day, for the CLI's `firebox cost` and the console."""

from __future__ import annotations

import time

from starlette.responses import Response
from starlette.routing import Route

from firebox.api.operation import Call, operation
from firebox.api.responses import aws_json
from firebox.domain.errors import InvalidParameterValueException
from firebox.domain.types import JSONDict
from firebox.metrics import billing


def _row(cost: billing.Cost) -> JSONDict:
    return {
        "Key": cost.key, "Requests": cost.requests, "GBSeconds": cost.gb_seconds,
        "ProvisionedGBSeconds": cost.provisioned_gb_seconds, "RequestCost": cost.request_cost,
        "DurationCost": cost.duration_cost, "ProvisionedCost": cost.provisioned_cost,
        "EphemeralStorageCost": cost.ephemeral_cost, "FreeTier": cost.free_tier,
        "Total": cost.total,
    }  # fmt: skip


@operation("GetCost", service="firebox")
async def get_cost(call: Call) -> Response:
    platform = call.platform
    start = int(call.params["StartTime"])
    end = int(call.params.get("EndTime") or time.time() + 60)
    if start >= end:
        raise InvalidParameterValueException("StartTime must be before EndTime")
    by = str(call.params.get("By") or "function")
    used = await billing.usage(platform.metrics, billing.day_start(start), end)
    rows, total = billing.price(used, platform.prices, by)
    prices = platform.prices
    return aws_json({
        "Currency": "USD", "StartTime": billing.day_start(start), "EndTime": end, "By": by,
        "Rows": [_row(r) for r in rows], "Total": _row(total),
        "FreeTier": {"Requests": prices.free_requests, "GBSeconds": prices.free_gb_seconds},
    })  # fmt: skip


routes = [Route("/_firebox/cost", get_cost, methods=["GET"])]
