"""Counts the objects and bytes in a bucket and writes the report into another one."""

import datetime
import json
import os

import boto3

s3 = boto3.client("s3")


def handler(event, context):
    source, target = os.environ["SOURCE_BUCKET"], os.environ["REPORT_BUCKET"]
    count = size = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=source):
        for item in page.get("Contents", []):
            count += 1
            size += item["Size"]
    day = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d")
    kind = event.get("kind", "on-demand")
    report = {"kind": kind, "day": day, "objects": count, "bytes": size}
    s3.put_object(Bucket=target, Key=f"{kind}/{day}.json", Body=json.dumps(report))
    print(f"report {kind} {day}: {count} objects, {size} bytes")
    return report
