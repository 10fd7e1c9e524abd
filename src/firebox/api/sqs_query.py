"""SQS's older query protocol (`Action=<Op>` forms, XML answers), and SQS's door at `/`.

Forms are parsed into the JSON members sqs.py's handlers take; their results are written
back as the XML older SDKs read.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape as _escape

from starlette.requests import Request
from starlette.responses import Response

from firebox.api.model import operation_model
from firebox.api.operation import BodyTooLarge, authenticate, authorize, read_body
from firebox.api.query import query_error_response, too_large
from firebox.api.sqs import (
    ACTIONS,
    MAX_BODY,
    TARGET_PREFIX,
    Context,
    check_members,
    queue_resource,
    sqs_error_response,
    sqs_json,
)
from firebox.domain.errors import LambdaError
from firebox.queues.errors import SqsError

NAMESPACE = "http://queue.amazonaws.com/doc/2012-11-05/"


async def sqs_api(request: Request) -> Response:
    """A request to SQS at `/`: JSON 1.0 by its target, or the query protocol's form."""
    target = request.headers.get("x-amz-target")
    if target is None:
        return await sqs_query(request)
    action = target.removeprefix(TARGET_PREFIX)
    if action not in ACTIONS:
        return sqs_error_response(SqsError("UnsupportedOperation",
                                           f"Unknown operation {target[:100]}"))  # fmt: skip
    return await sqs_json(request, action)


def escape(text: str) -> str:
    """XML text, carriage returns kept (a parser would read a bare CR as LF, and the body
    would no longer match its MD5)."""
    return _escape(text, {"\r": "&#xD;"})


# JSON member → the query protocol's (flattened) name for it.
_LISTS = {
    "AttributeNames": "AttributeName",
    "MessageAttributeNames": "MessageAttributeName",
    "MessageSystemAttributeNames": "MessageSystemAttributeName",
    "TagKeys": "TagKey",
}
_MAPS = {"Attributes": ("Attribute", "Name", "Value"), "tags": ("Tag", "Key", "Value"),
         "Tags": ("Tag", "Key", "Value")}  # fmt: skip
_TYPED_MAPS = {"MessageAttributes": "MessageAttribute",
               "MessageSystemAttributes": "MessageSystemAttribute"}  # fmt: skip
_ENTRIES = {"SendMessageBatch": "SendMessageBatchRequestEntry",
            "DeleteMessageBatch": "DeleteMessageBatchRequestEntry",
            "ChangeMessageVisibilityBatch": "ChangeMessageVisibilityBatchRequestEntry"}  # fmt: skip
_INTEGERS = {"DelaySeconds", "MaxNumberOfMessages", "VisibilityTimeout", "WaitTimeSeconds",
             "MaxResults", "MaxNumberOfMessagesPerSecond"}  # fmt: skip


def _numbered(heads: set[str], prefix: str) -> list[str]:
    """The `prefix.1`, `prefix.2`, … a form has (`heads`: its keys' `Name.N` starts), in order."""
    found = []
    n = 1
    while f"{prefix}.{n}" in heads:
        found.append(f"{prefix}.{n}")
        n += 1
    return found


def _heads(form: dict[str, str]) -> set[str]:
    """Every `Name.N` a form's keys start with: found once per form, not per lookup."""
    return {".".join(k.split(".", 2)[:2]) for k in form}


def _members_from_form(form: dict[str, str], shape_members: dict[str, Any],
                       action: str) -> dict[str, Any]:  # fmt: skip
    out: dict[str, Any] = {}
    heads = _heads(form)
    for name in shape_members:
        if name in _LISTS:
            items = [form[p] for p in _numbered(heads, _LISTS[name]) if p in form]
            if items:
                out[name] = items
        elif name in _MAPS:
            prefix, key, value = _MAPS[name]
            pairs = {form[f"{p}.{key}"]: form.get(f"{p}.{value}", "")
                     for p in _numbered(heads, prefix) if f"{p}.{key}" in form}  # fmt: skip
            if pairs:
                out[name] = pairs
        elif name in _TYPED_MAPS:
            typed = _typed_attributes(form, heads, _TYPED_MAPS[name])
            if typed:
                out[name] = typed
        elif name == "Entries":
            entries = []
            # At most 11: enough to be refused as too many, without reading thousands.
            for p in _numbered(heads, _ENTRIES[action])[:11]:
                entry_form = {k[len(p) + 1 :]: v for k, v in form.items() if k.startswith(p + ".")}
                entry = {k: _scalar(k, v) for k, v in entry_form.items() if "." not in k}
                entry_heads = _heads(entry_form)
                for member, prefix in _TYPED_MAPS.items():
                    typed = _typed_attributes(entry_form, entry_heads, prefix)
                    if typed:
                        entry[member] = typed
                entries.append(entry)
            out[name] = entries
        elif name in form:
            out[name] = _scalar(name, form[name])
    return out


def _scalar(name: str, value: str) -> Any:
    if name in _INTEGERS and (value.lstrip("-").isdigit()):
        return int(value)
    return value


def _typed_attributes(form: dict[str, str], heads: set[str], prefix: str
                      ) -> dict[str, dict[str, Any]]:  # fmt: skip
    out: dict[str, dict[str, Any]] = {}
    for p in _numbered(heads, prefix):
        name = form.get(f"{p}.Name")
        if name is None:
            continue
        value = {k: form[f"{p}.Value.{k}"] for k in ("DataType", "StringValue", "BinaryValue")
                 if f"{p}.Value.{k}" in form}  # fmt: skip
        out[name] = value
    return out


# Lists in answers → the element each item is, and maps → (element, key, value).
_ITEM = {
    "Messages": "Message",
    "QueueUrls": "QueueUrl",
    "queueUrls": "QueueUrl",
    "Results": "ListMessageMoveTasksResultEntry",
    "Failed": "BatchResultErrorEntry",
}


def _xml(value: Any, name: str, action: str) -> str:
    if isinstance(value, list):
        item = _ITEM.get(name) or f"{action}ResultEntry"  # Successful: <ActionResultEntry>
        return "".join(f"<{item}>{_xml_fields(v, action)}</{item}>" if isinstance(v, dict)
                       else f"<{item}>{escape(str(v))}</{item}>" for v in value)  # fmt: skip
    if name in ("Attributes", "Tags"):
        element, key, val = ("Attribute", "Name", "Value") if name == "Attributes" else (
            "Tag", "Key", "Value")  # fmt: skip
        return "".join(f"<{element}><{key}>{escape(k)}</{key}><{val}>{escape(str(v))}</{val}>"
                       f"</{element}>" for k, v in value.items())  # fmt: skip
    if name == "MessageAttributes":
        return "".join(
            f"<MessageAttribute><Name>{escape(k)}</Name><Value>{_xml_fields(v, action)}</Value>"
            "</MessageAttribute>"
            for k, v in value.items()
        )
    if isinstance(value, dict):
        return f"<{name}>{_xml_fields(value, action)}</{name}>"
    if isinstance(value, bool):
        return f"<{name}>{'true' if value else 'false'}</{name}>"
    return f"<{name}>{escape(str(value))}</{name}>"


def _xml_fields(fields: dict[str, Any], action: str) -> str:
    return "".join(_xml(v, k, action) for k, v in fields.items())


async def sqs_query(request: Request) -> Response:
    """The older query protocol: `Action` and flattened members in a form; XML answers."""
    try:
        body = await read_body(request, MAX_BODY)
        caller = await authenticate(request, MAX_BODY, {"sqs"})
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"),
                                             keep_blank_values=True).items()}  # fmt: skip
        form = {**{k: v for k, v in request.query_params.items()}, **form}
        action = form.get("Action", "")
        handler = ACTIONS.get(action)
        if handler is None:
            raise SqsError("InvalidAction", f"The action {action[:100]} is not valid for this "
                           "endpoint.")  # fmt: skip
        if "QueueUrl" not in form and request.url.path.strip("/"):
            form["QueueUrl"] = request.url.path  # the older clients post to the queue's URL
        members = _members_from_form(form, operation_model("sqs", action).input_shape.members,
                                     action)  # fmt: skip
        check_members(action, members)
        ctx = Context(request.app.state.platform, caller, request.headers.get("host", "localhost"))
        authorize(request, caller, f"sqs:{action}", queue_resource(ctx, members), "AccessDenied")
        result = await handler(ctx, members)
    except BodyTooLarge:
        return too_large()
    except LambdaError as exc:
        return query_error_response(exc)
    request_id = str(uuid.uuid4())
    inner = f"<{action}Result>{_xml_fields(result, action)}</{action}Result>"
    xml = (f'<?xml version="1.0"?><{action}Response xmlns="{NAMESPACE}">{inner}'
           f"<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata>"
           f"</{action}Response>")  # fmt: skip
    return Response(xml, 200, media_type="text/xml", headers={"x-amzn-RequestId": request_id})
