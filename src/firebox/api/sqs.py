"""SQS's operations, and AWS JSON 1.0 (`X-Amz-Target: AmazonSQS.<Op>`, what current SDKs send).

Handlers take members in the JSON shape of botocore's model and return results in it; the
older query protocol (sqs_query.py) parses its forms into the same members and runs the same
handlers. Errors carry SQS's codes (the query protocol's older names in `x-amzn-query-error`).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from firebox.api.model import operation_model
from firebox.api.operation import BodyTooLarge, authenticate, authorize, read_body
from firebox.api.validation import Compiler, TypeMismatch, Violation, describe
from firebox.auth.sigv4 import Caller
from firebox.domain.errors import LambdaError
from firebox.queues import attributes as queue_attributes
from firebox.queues.errors import SqsError, invalid, no_queue
from firebox.queues.messages import Message, md5_attributes
from firebox.queues.queue import Queue
from firebox.queues.service import Outgoing, QueueService, Received, Sent

if TYPE_CHECKING:
    from firebox.platform import Platform

TARGET_PREFIX = "AmazonSQS."

MAX_BODY = 2 * 1024 * 1024  # a 1 MiB message or batch, in JSON or a form, with room to spare
BATCH_ID = "^[A-Za-z0-9_-]{1,80}$"


def sqs_error_response(exc: LambdaError) -> Response:
    """JSON 1.0: `__type` with SQS's namespace, and the query code SDKs map exceptions by."""
    code = exc.error_type
    query_code = getattr(exc, "query_code", None) or code
    fault = "Sender" if exc.status < 500 else "Receiver"
    body = json.dumps({"__type": f"com.amazonaws.sqs#{code}", "message": exc.message})
    return Response(body, exc.status, media_type="application/x-amz-json-1.0", headers={
        "x-amzn-RequestId": str(uuid.uuid4()), "x-amzn-query-error": f"{query_code};{fault}",
    })  # fmt: skip


@dataclass(frozen=True)
class Context:
    """What a handler needs of the request besides its members."""

    platform: Platform
    caller: Caller | None
    host: str  # queue URLs name the host the caller reached

    @property
    def queues(self) -> QueueService:
        return self.platform.sqs

    def url(self, queue: Queue) -> str:
        return f"http://{self.host}/{self.queues.account}/{queue.name}"

    def queue(self, url: str) -> Queue:
        """The queue a QueueUrl names (its path: /<account>/<name>; a bare name too)."""
        parts = [p for p in urlsplit(url).path.split("/") if p]
        if not parts or (len(parts) == 2 and parts[0] != self.queues.account) or len(parts) > 2:
            raise no_queue()
        return self.queues.queue(parts[-1])

    def sender(self) -> str:
        return self.caller.access_key_id if self.caller else self.queues.account


Handler = Callable[[Context, dict[str, Any]], Awaitable[dict[str, Any]]]


# ----- queues ------------------------------------------------------------------------------------
async def create_queue(ctx: Context, m: dict[str, Any]) -> dict[str, Any]:
    queue = await ctx.queues.create_queue(m["QueueName"], m.get("Attributes", {}), m.get("tags"))
    return {"QueueUrl": ctx.url(queue)}


async def get_queue_url(ctx: Context, m: dict[str, Any]) -> dict[str, Any]:
    owner = m.get("QueueOwnerAWSAccountId")
    if owner is not None and owner != ctx.queues.account:
        raise no_queue()
    return {"QueueUrl": ctx.url(ctx.queues.queue(m["QueueName"]))}


def _page(items: list[Any], m: dict[str, Any], key: str) -> dict[str, Any]:
    """MaxResults / NextToken as SQS pages (a token only when MaxResults was given)."""
    limit = m.get("MaxResults")
    token = m.get("NextToken")
    start = 0
    if token is not None:
        if not (isinstance(token, str) and token.isdigit()):
            raise invalid("Invalid NextToken value.")
        start = int(token)
    if limit is None:
        return {key: items[start:1000]}
    if not 1 <= limit <= 1000:
        raise invalid(f"Value {limit} for parameter MaxResults is invalid. Reason: MaxResults "
                      "must be an integer between 1 and 1000.")  # fmt: skip
    page = items[start : start + limit]
    out: dict[str, Any] = {key: page}
    if start + limit < len(items):
        out["NextToken"] = str(start + limit)
    return out


async def list_queues(ctx: Context, m: dict[str, Any]) -> dict[str, Any]:
    urls = [ctx.url(q) for q in ctx.queues.queues(m.get("QueueNamePrefix", ""))]
    return _page(urls, m, "QueueUrls")


async def delete_queue(ctx: Context, m: dict[str, Any]) -> dict[str, Any]:
    await ctx.queues.delete_queue(ctx.queue(m["QueueUrl"]))
    return {}


async def get_queue_attributes(ctx: Context, m: dict[str, Any]) -> dict[str, Any]:
    names = m.get("AttributeNames") or []
    attributes = ctx.queues.attributes(ctx.queue(m["QueueUrl"]), names)
    return {"Attributes": attributes} if attributes else {}


async def set_queue_attributes(ctx: Context, m: dict[str, Any]) -> dict[str, Any]:
    await ctx.queues.set_attributes(ctx.queue(m["QueueUrl"]), m["Attributes"])
    return {}


async def purge_queue(ctx: Context, m: dict[str, Any]) -> dict[str, Any]:
    await ctx.queues.purge(ctx.queue(m["QueueUrl"]))
    return {}


async def tag_queue(ctx: Context, m: dict[str, Any]) -> dict[str, Any]:
    await ctx.queues.tag(ctx.queue(m["QueueUrl"]), m["Tags"])
    return {}


async def untag_queue(ctx: Context, m: dict[str, Any]) -> dict[str, Any]:
    await ctx.queues.untag(ctx.queue(m["QueueUrl"]), m["TagKeys"])
    return {}


async def list_queue_tags(ctx: Context, m: dict[str, Any]) -> dict[str, Any]:
    tags = ctx.queue(m["QueueUrl"]).tags
    return {"Tags": dict(tags)} if tags else {}


async def list_dead_letter_source_queues(ctx: Context, m: dict[str, Any]) -> dict[str, Any]:
    sources = ctx.queues.dead_letter_sources(ctx.queue(m["QueueUrl"]))
    return _page([ctx.url(q) for q in sources], m, "queueUrls")


# ----- messages ----------------------------------------------------------------------------------
def _outgoing(m: dict[str, Any]) -> Outgoing:
    return Outgoing(m["MessageBody"], m.get("DelaySeconds"), m.get("MessageAttributes") or {},
                    m.get("MessageSystemAttributes") or {}, m.get("MessageGroupId"),
                    m.get("MessageDeduplicationId"))  # fmt: skip


def _sent(sent: Sent) -> dict[str, Any]:
    out: dict[str, Any] = {"MessageId": sent.message_id, "MD5OfMessageBody": sent.md5_body}
    if sent.md5_attributes:
        out["MD5OfMessageAttributes"] = sent.md5_attributes
    if sent.md5_system:
        out["MD5OfMessageSystemAttributes"] = sent.md5_system
    if sent.sequence_number:
        out["SequenceNumber"] = sent.sequence_number
    return out


async def send_message(ctx: Context, m: dict[str, Any]) -> dict[str, Any]:
    queue = ctx.queue(m["QueueUrl"])
    (result,) = await ctx.queues.send(queue, [_outgoing(m)], ctx.sender())
    if isinstance(result, SqsError):
        raise result
    return _sent(result)


def _check_batch(entries: list[dict[str, Any]]) -> None:
    if not entries:
        raise SqsError("EmptyBatchRequest", "There should be at least one "
                       "SendMessageBatchRequestEntry in the request.")  # fmt: skip
    if len(entries) > 10:
        raise SqsError("TooManyEntriesInBatchRequest",
                       f"Maximum number of entries per request are 10. You have sent "
                       f"{len(entries)}.")  # fmt: skip
    ids = [e["Id"] for e in entries]
    for entry_id in ids:
        if not re.match(BATCH_ID, entry_id):
            raise SqsError("InvalidBatchEntryId", "A batch entry id can only contain "
                           "alphanumeric characters, hyphens and underscores. It can be at most "
                           "80 letters long.")  # fmt: skip
    if len(set(ids)) != len(ids):
        raise SqsError("BatchEntryIdsNotDistinct", "Two or more batch entries in the request "
                       "have the same Id.")  # fmt: skip


def _failed(entry_id: str, exc: SqsError) -> dict[str, Any]:
    return {"Id": entry_id, "SenderFault": exc.status < 500, "Code": exc.query_code,
            "Message": exc.message}  # fmt: skip


async def send_message_batch(ctx: Context, m: dict[str, Any]) -> dict[str, Any]:
    queue = ctx.queue(m["QueueUrl"])
    entries = m["Entries"]
    _check_batch(entries)
    total = sum(len(e["MessageBody"].encode()) for e in entries)
    limit = queue.number("MaximumMessageSize")
    if total > limit:
        raise SqsError("BatchRequestTooLong", f"Batch requests cannot be longer than {limit} "
                       f"bytes. You have sent {total} bytes.")  # fmt: skip
    results = await ctx.queues.send(queue, [_outgoing(e) for e in entries], ctx.sender())
    successful, failed = [], []
    for entry, result in zip(entries, results, strict=True):
        if isinstance(result, SqsError):
            failed.append(_failed(entry["Id"], result))
        else:
            successful.append({"Id": entry["Id"], **_sent(result)})
    return {"Successful": successful, "Failed": failed}


def _wanted(names: list[str], name: str) -> bool:
    return any(n in ("All", ".*") or n == name or (n.endswith(".*") and name.startswith(n[:-1]))
               for n in names)  # fmt: skip


def _system(message: Message, names: list[str]) -> dict[str, str]:
    every = {
        "ApproximateReceiveCount": str(message.receive_count),
        "ApproximateFirstReceiveTimestamp": str(int(message.first_receive * 1000)),
        "SentTimestamp": str(int(message.sent * 1000)),
        "SenderId": message.sender,
        **({"MessageGroupId": message.group_id} if message.group_id else {}),
        **({"MessageDeduplicationId": message.dedup_id} if message.sequence_number else {}),
        **({"SequenceNumber": message.sequence_number} if message.sequence_number else {}),
        **message.system,
    }
    if "All" in names:
        return every
    return {k: v for k, v in every.items() if k in names}


def _message(received: Received, system: list[str], user: list[str]) -> dict[str, Any]:
    message = received.message
    out: dict[str, Any] = {
        "MessageId": message.message_id, "ReceiptHandle": received.receipt_handle,
        "MD5OfBody": message.md5_body, "Body": message.body,
    }  # fmt: skip
    attributes = _system(message, system)
    if attributes:
        out["Attributes"] = attributes
    chosen = {k: v for k, v in message.attributes.items() if _wanted(user, k)}
    if chosen:
        out["MD5OfMessageAttributes"] = md5_attributes(chosen)
        out["MessageAttributes"] = chosen
    return out


async def receive_message(ctx: Context, m: dict[str, Any]) -> dict[str, Any]:
    queue = ctx.queue(m["QueueUrl"])
    got = await ctx.queues.receive(queue, m.get("MaxNumberOfMessages", 1),
                                   m.get("VisibilityTimeout"),
                                   m.get("WaitTimeSeconds"))  # fmt: skip
    system = [*(m.get("AttributeNames") or []), *(m.get("MessageSystemAttributeNames") or [])]
    user = m.get("MessageAttributeNames") or []
    return {"Messages": [_message(r, system, user) for r in got]} if got else {}


async def delete_message(ctx: Context, m: dict[str, Any]) -> dict[str, Any]:
    (result,) = await ctx.queues.delete(ctx.queue(m["QueueUrl"]), [m["ReceiptHandle"]])
    if result is not None:
        raise result
    return {}


async def delete_message_batch(ctx: Context, m: dict[str, Any]) -> dict[str, Any]:
    entries = m["Entries"]
    _check_batch(entries)
    results = await ctx.queues.delete(ctx.queue(m["QueueUrl"]),
                                      [e["ReceiptHandle"] for e in entries])  # fmt: skip
    return _batch_results(entries, results)


def _batch_results(entries: list[dict[str, Any]], results: list[SqsError | None]) -> dict[str, Any]:
    successful, failed = [], []
    for entry, result in zip(entries, results, strict=True):
        if result is None:
            successful.append({"Id": entry["Id"]})
        else:
            failed.append(_failed(entry["Id"], result))
    return {"Successful": successful, "Failed": failed}


async def change_message_visibility(ctx: Context, m: dict[str, Any]) -> dict[str, Any]:
    (result,) = await ctx.queues.change_visibility(
        ctx.queue(m["QueueUrl"]), [(m["ReceiptHandle"], m["VisibilityTimeout"])]
    )
    if result is not None:
        raise result
    return {}


async def change_message_visibility_batch(ctx: Context, m: dict[str, Any]) -> dict[str, Any]:
    entries = m["Entries"]
    _check_batch(entries)
    results = await ctx.queues.change_visibility(
        ctx.queue(m["QueueUrl"]),
        [(e["ReceiptHandle"], e.get("VisibilityTimeout", 0)) for e in entries],
    )
    return _batch_results(entries, results)


# ----- moving messages back from a dead-letter queue --------------------------------------------
async def start_message_move_task(ctx: Context, m: dict[str, Any]) -> dict[str, Any]:
    task = ctx.platform.sqs_moves.start(m["SourceArn"], m.get("DestinationArn"),
                                        m.get("MaxNumberOfMessagesPerSecond"))  # fmt: skip
    return {"TaskHandle": task.handle}


async def list_message_move_tasks(ctx: Context, m: dict[str, Any]) -> dict[str, Any]:
    tasks = ctx.platform.sqs_moves.list(m["SourceArn"])[: m.get("MaxResults", 1)]
    results = []
    for task in tasks:
        entry: dict[str, Any] = {
            "Status": task.status, "SourceArn": task.source,
            "ApproximateNumberOfMessagesMoved": task.moved,
            "ApproximateNumberOfMessagesToMove": task.to_move,
            "StartedTimestamp": int(task.started * 1000),
        }  # fmt: skip
        if task.status == "RUNNING":
            entry["TaskHandle"] = task.handle
        if task.destination:
            entry["DestinationArn"] = task.destination
        if task.rate:
            entry["MaxNumberOfMessagesPerSecond"] = task.rate
        if task.failure:
            entry["FailureReason"] = task.failure
        results.append(entry)
    return {"Results": results}


async def cancel_message_move_task(ctx: Context, m: dict[str, Any]) -> dict[str, Any]:
    task = ctx.platform.sqs_moves.cancel(m["TaskHandle"])
    return {"ApproximateNumberOfMessagesMoved": task.moved}


ACTIONS: dict[str, Handler] = {
    "CreateQueue": create_queue, "GetQueueUrl": get_queue_url, "ListQueues": list_queues,
    "DeleteQueue": delete_queue, "GetQueueAttributes": get_queue_attributes,
    "SetQueueAttributes": set_queue_attributes, "PurgeQueue": purge_queue,
    "TagQueue": tag_queue, "UntagQueue": untag_queue, "ListQueueTags": list_queue_tags,
    "ListDeadLetterSourceQueues": list_dead_letter_source_queues,
    "SendMessage": send_message, "SendMessageBatch": send_message_batch,
    "ReceiveMessage": receive_message, "DeleteMessage": delete_message,
    "DeleteMessageBatch": delete_message_batch,
    "ChangeMessageVisibility": change_message_visibility,
    "ChangeMessageVisibilityBatch": change_message_visibility_batch,
    "StartMessageMoveTask": start_message_move_task,
    "ListMessageMoveTasks": list_message_move_tasks,
    "CancelMessageMoveTask": cancel_message_move_task,
}  # fmt: skip


def queue_resource(ctx: Context, m: dict[str, Any]) -> str:
    """The queue ARN a call is on, for IAM (any queue for CreateQueue's name and listing)."""
    if "QueueUrl" in m:
        name = [p for p in urlsplit(str(m["QueueUrl"])).path.split("/") if p][-1:] or [""]
        return ctx.queues.arn(name[0])
    if "QueueName" in m:
        return ctx.queues.arn(str(m["QueueName"]))
    return str(m.get("SourceArn", "*"))


# ----- checking members -------------------------------------------------------------------------
_compiler = Compiler()


def check_members(action: str, members: dict[str, Any]) -> dict[str, Any]:
    """Members checked against SQS's model; an unknown queue attribute is SQS's own
    InvalidAttributeName, not a model violation."""
    shape = operation_model("sqs", action).input_shape
    violations: list[Violation] = []
    # Queue attribute names are SQS's to judge (InvalidAttributeName), and ReceiveMessage's
    # AttributeNames take message attributes too (SenderId, …), which the model's enum lacks.
    modelled = dict(members)
    for key, empty in (("Attributes", {}), ("AttributeNames", [])):
        if key in modelled:  # present (the model may require it), checked below
            modelled[key] = empty
    try:
        _compiler.checker(shape)(modelled, "", violations)
    except TypeMismatch as exc:
        raise SqsError("InvalidParameterValue", exc.describe()) from None
    if violations:
        raise SqsError("InvalidParameterValue", describe(violations))
    attributes = members.get("Attributes")
    if attributes is not None:
        if not isinstance(attributes, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
        ):
            raise SqsError("InvalidParameterValue", "Attributes must map names to strings.")
        for name in attributes:
            if name not in queue_attributes.SETTABLE:
                raise SqsError("InvalidAttributeName", f"Unknown Attribute {name[:100]}.")
    listed = members.get("AttributeNames")
    if listed is not None:
        if not isinstance(listed, list) or not all(isinstance(n, str) for n in listed):
            raise SqsError("InvalidParameterValue", "AttributeNames must be a list of names.")
        known = (*queue_attributes.SETTABLE, *queue_attributes.COMPUTED, *SYSTEM_NAMES, "All")
        for name in listed:
            if name not in known:
                raise SqsError("InvalidAttributeName", f"Unknown Attribute {name[:100]}.")
    return members


SYSTEM_NAMES = (
    "ApproximateReceiveCount", "ApproximateFirstReceiveTimestamp", "SentTimestamp", "SenderId",
    "MessageDeduplicationId", "MessageGroupId", "SequenceNumber", "AWSTraceHeader",
    "DeadLetterQueueSourceArn", "SqsManagedSseEnabled", "RedriveAllowPolicy",
)  # fmt: skip


# ----- AWS JSON 1.0 ------------------------------------------------------------------------------
async def sqs_json(request: Request, action: str) -> Response:
    try:
        body = await read_body(request, MAX_BODY)
        caller = await authenticate(request, MAX_BODY, {"sqs"})
        try:
            members = json.loads(body or b"{}")
        except ValueError:
            raise SqsError("InvalidParameterValue", "The request body is not valid JSON.") from None
        if not isinstance(members, dict):
            raise SqsError("InvalidParameterValue", "The request body must be a JSON object.")
        check_members(action, members)
        ctx = Context(request.app.state.platform, caller, request.headers.get("host", "localhost"))
        authorize(request, caller, f"sqs:{action}", queue_resource(ctx, members))
        result = await ACTIONS[action](ctx, members)
    except BodyTooLarge:
        return sqs_error_response(SqsError("RequestEntityTooLarge", "Request is too large", 413))
    except LambdaError as exc:
        return sqs_error_response(exc)
    return Response(json.dumps(result, separators=(",", ":")), 200,
                    media_type="application/x-amz-json-1.0",
                    headers={"x-amzn-RequestId": str(uuid.uuid4())})  # fmt: skip
