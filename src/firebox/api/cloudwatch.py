"""CloudWatch's metric API in the three protocols botocore knows for it: AWS JSON 1.0 at `/`
(`X-Amz-Target: GraniteServiceVersion20100801.<Op>`, the one it picks today), Smithy RPC v2
CBOR at `/service/GraniteServiceVersion20100801/operation/<Op>`, and the query protocol
(`Action=<Op>` forms, XML answers). Each request becomes the same plain members, checked
against the model, then a call on the metrics service (metrics/service.py)."""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

import cbor2
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from firebox.api import faults
from firebox.api.model import operation_model
from firebox.api.modelwire import from_form, timestamps_in, to_wire
from firebox.api.operation import BodyTooLarge, authenticate, authorize, read_body
from firebox.api.query import query_error_response, query_response
from firebox.api.validation import Compiler, TypeMismatch, Violation, describe
from firebox.domain.errors import CodedError, LambdaError
from firebox.metrics.errors import CloudWatchError, validation
from firebox.metrics.series import SeriesKey
from firebox.metrics.service import (
    Datapoint,
    MetricInput,
    MetricQuery,
    MetricsService,
    StatisticSet,
)

TARGET = "GraniteServiceVersion20100801"
TARGET_PREFIX = TARGET + "."
NAMESPACE = "http://monitoring.amazonaws.com/doc/2010-08-01/"
VERSION = "2010-08-01"
MAX_BODY = 2 * 1024 * 1024  # PutMetricData's 1 MB, form-encoded
JSON, CBOR, QUERY = "json", "smithy-rpc-v2-cbor", "query"
Params = dict[str, Any]
Handler = Callable[[MetricsService, Params], Awaitable[Params | None]]
OPERATIONS: dict[str, Handler] = {}
_compiler = Compiler()


def _operation(handler: Handler) -> Handler:
    name = handler.__name__.title().replace("_", "")
    operation_model("cloudwatch", name)  # a wrong name fails at import
    OPERATIONS[name] = handler
    return handler


def _dims(items: list[Params] | None) -> dict[str, str]:
    return {d["Name"]: d["Value"] for d in items or ()}


def _metric(p: Params) -> SeriesKey:
    return SeriesKey.of(p.get("Namespace", ""), p.get("MetricName", ""), _dims(p.get("Dimensions")))


def _metric_members(key: SeriesKey) -> Params:
    return {"Namespace": key.namespace, "MetricName": key.name,
            "Dimensions": [{"Name": n, "Value": v} for n, v in key.dimensions]}  # fmt: skip


@_operation
async def put_metric_data(metrics: MetricsService, p: Params) -> None:
    data = []
    for d in p.get("MetricData", []):
        stats = d.get("StatisticValues")
        data.append(MetricInput(
            d["MetricName"], _dims(d.get("Dimensions")), d.get("Timestamp"), d.get("Value"),
            tuple(d.get("Values", ())), tuple(d.get("Counts", ())),
            StatisticSet(stats["SampleCount"], stats["Sum"], stats["Minimum"], stats["Maximum"])
            if stats else None, d.get("Unit", "None"),
        ))  # fmt: skip
    if not data:
        raise validation("The parameter MetricData is required.")
    await metrics.put_metric_data(p["Namespace"], data)
    return None


@_operation
async def get_metric_statistics(metrics: MetricsService, p: Params) -> Params:
    points = await metrics.statistics(
        _metric(p), p["StartTime"], p["EndTime"], p["Period"], p.get("Statistics", []),
        p.get("ExtendedStatistics", []), p.get("Unit"),
    )  # fmt: skip
    return {"Label": p["MetricName"], "Datapoints": [_datapoint(d) for d in points]}


def _datapoint(d: Datapoint) -> Params:
    out: Params = {"Timestamp": d.timestamp, **d.values, "Unit": d.unit}
    if d.extended:
        out["ExtendedStatistics"] = d.extended
    return out


@_operation
async def get_metric_data(metrics: MetricsService, p: Params) -> Params:
    queries = []
    for q in p["MetricDataQueries"]:
        stat = q.get("MetricStat")
        queries.append(MetricQuery(
            q["Id"], _metric(stat["Metric"]) if stat else None,
            stat.get("Period") if stat else None, stat.get("Stat") if stat else None,
            stat.get("Unit") if stat else None, q.get("Expression"), q.get("Label"),
            q.get("ReturnData", True),
        ))  # fmt: skip
    data = await metrics.metric_data(
        queries, p["StartTime"], p["EndTime"], p.get("ScanBy") != "TimestampAscending",
        p.get("MaxDatapoints", 100_800), p.get("NextToken"),
    )  # fmt: skip
    results = [{"Id": r.id, "Label": r.label, "Timestamps": r.timestamps, "Values": r.values,
                "StatusCode": r.status} for r in data.results]  # fmt: skip
    out: Params = {"MetricDataResults": results, "Messages": []}
    if data.next_token:
        out["NextToken"] = data.next_token
    return out


@_operation
async def list_metrics(metrics: MetricsService, p: Params) -> Params:
    filters = [(f["Name"], f.get("Value")) for f in p.get("Dimensions", [])]
    keys, token = await metrics.list_metrics(
        p.get("Namespace"), p.get("MetricName"), filters, p.get("RecentlyActive") == "PT3H",
        p.get("NextToken"),
    )  # fmt: skip
    out: Params = {"Metrics": [_metric_members(k) for k in keys]}
    if token:
        out["NextToken"] = token
    return out


# ----- the three doors -------------------------------------------------------------------------
def _answer(protocol: str, operation: str, result: Params | None) -> Response:
    shape = operation_model("cloudwatch", operation).output_shape
    members = to_wire(shape, result or {}, protocol) if shape is not None else {}
    request_id = str(uuid.uuid4())
    if protocol == QUERY:
        return query_response(operation, NAMESPACE, members)
    if protocol == CBOR:
        return Response(cbor2.dumps(members), 200, media_type="application/cbor",
                        headers={"smithy-protocol": "rpc-v2-cbor",
                                 "x-amzn-RequestId": request_id})  # fmt: skip
    return Response(json.dumps(members).encode(), 200, media_type="application/x-amz-json-1.0",
                    headers={"x-amzn-RequestId": request_id})  # fmt: skip


def _error(protocol: str, exc: LambdaError) -> Response:
    if protocol == QUERY:
        return query_error_response(exc)
    code = getattr(exc, "query_code", None) or exc.error_type
    headers = {
        "x-amzn-RequestId": str(uuid.uuid4()),
        # awsQueryCompatible: SDKs name the error by its query-protocol code
        "x-amzn-query-error": f"{code};{'Sender' if exc.status < 500 else 'Receiver'}",
    }
    body = {"__type": exc.error_type, "message": exc.message}
    if protocol == CBOR:
        headers["smithy-protocol"] = "rpc-v2-cbor"
        return Response(cbor2.dumps(body), exc.status, media_type="application/cbor",
                        headers=headers)  # fmt: skip
    return Response(json.dumps(body).encode(), exc.status,
                    media_type="application/x-amz-json-1.0", headers=headers)  # fmt: skip


def _decode(protocol: str, operation: str, body: bytes, form: dict[str, str]) -> Params:
    shape = operation_model("cloudwatch", operation).input_shape
    if protocol == QUERY:
        params = from_form(shape, form) if shape is not None else {}
    else:
        try:
            raw = (
                (cbor2.loads(body) if body else {})
                if protocol == CBOR
                else json.loads(body or b"{}")
            )
        except (ValueError, RecursionError, cbor2.CBORDecodeError):
            raise CodedError(
                "SerializationException", "The request body could not be read"
            ) from None
        if not isinstance(raw, dict):
            raise CodedError("SerializationException", "The request body must be an object")
        params = timestamps_in(shape, raw)
    violations: list[Violation] = []
    if shape is not None:
        _compiler.checker(shape)(params, "", violations)
    if violations:
        raise validation(describe(violations))
    return dict(params or {})


def _inflate(body: bytes) -> bytes:
    """A gzip body (botocore compresses PutMetricData's over 10 KB), within the cap."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, MAX_BODY + 1)
    except zlib.error:
        raise CodedError("SerializationException", "The gzip request body is corrupt") from None
    if len(out) > MAX_BODY or inflater.unconsumed_tail:
        raise BodyTooLarge
    if not inflater.eof:
        raise CodedError("SerializationException", "The gzip request body is truncated")
    return out


async def _serve(request: Request, protocol: str, operation: str | None) -> Response:
    try:
        body = await read_body(request, MAX_BODY)
        if "gzip" in request.headers.get("content-encoding", ""):
            body = _inflate(body)  # (the signature covered the compressed bytes, read above)
        form: dict[str, str] = {}
        if protocol == QUERY:
            form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
            form = {**dict(request.query_params), **form}
            operation = form.get("Action", "")
        if operation not in OPERATIONS:
            if protocol == QUERY:
                message = f"Could not find operation {str(operation)[:100]} for version {VERSION}"
                raise CodedError("InvalidAction", message)
            # (as every other JSON or CBOR service answers an operation firebox does not serve)
            raise CodedError("UnknownOperationException",
                             f"Unknown operation {str(operation)[:100]}: firebox does not serve it",
                             404 if protocol == CBOR else 400)  # fmt: skip
        caller = await authenticate(request, MAX_BODY, {"monitoring"})
        params = _decode(protocol, operation, body, form)
        authorize(
            request,
            caller,
            f"cloudwatch:{operation}",
            "*",
            code="AccessDenied" if protocol == QUERY else "AccessDeniedException",
        )
        metrics: MetricsService = request.app.state.platform.metrics
        return _answer(protocol, operation, await OPERATIONS[operation](metrics, params))
    except CloudWatchError as exc:
        return _error(protocol, exc)
    except LambdaError as exc:
        return _error(protocol, exc)
    except BodyTooLarge:
        return _error(protocol, CodedError("RequestEntityTooLarge", "Request is too large", 413))
    except TypeMismatch as exc:
        return _error(
            protocol,
            CloudWatchError(
                "InvalidParameterValueException", "InvalidParameterValue", exc.describe()
            ),
        )
    except Exception as exc:  # firebox's own failure
        ref = faults.report(exc, request)
        return _error(protocol, CloudWatchError("InternalServiceFault", "InternalServiceError",
                                                faults.message(exc, ref), 500))  # fmt: skip


async def cloudwatch_api(request: Request) -> Response:
    """`/`: JSON 1.0 when the request names a target, else the query protocol."""
    target = request.headers.get("x-amz-target")
    if target is not None:
        return await _serve(request, JSON, target.partition(".")[2])
    return await _serve(request, QUERY, None)


async def cloudwatch_cbor(request: Request) -> Response:
    return await _serve(request, CBOR, request.path_params["operation"])


routes = [Route(f"/service/{TARGET}/operation/{{operation}}", cloudwatch_cbor, methods=["POST"])]
