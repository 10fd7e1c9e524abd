"""Processes orders from SQS; reports the ones it could not process, so that only those are
retried (ReportBatchItemFailures) and the rest of the batch is deleted."""

import json


def process(order):
    if order.get("quantity", 0) <= 0:
        raise ValueError(f"order {order.get('id')}: quantity must be positive")
    print(f"order {order['id']}: {order['quantity']} x {order['item']}")


def handler(event, context):
    failures = []
    for record in event["Records"]:
        try:
            process(json.loads(record["body"]))
        except (ValueError, KeyError) as exc:
            print(f"failed {record['messageId']}: {exc}")
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}
