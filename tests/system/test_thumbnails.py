"""The thumbnail pipeline of examples/thumbnails, end to end: a JPEG uploaded to `photos`
(through the AWS CLI and through boto3) becomes a thumbnail in `photos-thumbs`, made by a
function using Pillow, triggered by the bucket's notification."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
from PIL import Image

from support import create_function, vendored, wait_for

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "thumbnails"
AWS = str(Path(sys.executable).parent / "aws")


def jpeg(width: int, height: int) -> bytes:
    image = Image.new("RGB", (width, height))
    for x in range(0, width, 16):  # something to compress: stripes
        for y in range(height):
            image.putpixel((x, y), (255, x % 256, y % 256))
    out = io.BytesIO()
    image.save(out, format="JPEG")
    return out.getvalue()


def test_upload_makes_a_thumbnail(start_server: Any, tmp_path: Path) -> None:
    server = start_server()
    kw: dict[str, Any] = dict(endpoint_url=server.url, region_name="us-east-1",
                              aws_access_key_id="x", aws_secret_access_key="x")  # fmt: skip
    s3, lam, logs = (boto3.client(n, **kw) for n in ("s3", "lambda", "logs"))
    s3.create_bucket(Bucket="photos")
    s3.create_bucket(Bucket="photos-thumbs")
    files: dict[str, str | bytes] = {
        **vendored("pillow"),
        "handler.py": (EXAMPLE / "handler.py").read_text(),
    }
    create_function(lam, files, FunctionName="thumbnails", Handler="handler.handler",
                    Timeout=30, MemorySize=512)  # fmt: skip
    lam.add_permission(
        FunctionName="thumbnails",
        StatementId="s3",
        Principal="s3.amazonaws.com",
        Action="lambda:InvokeFunction",
        SourceArn="arn:aws:s3:::photos",
    )
    arn = lam.get_function(FunctionName="thumbnails")["Configuration"]["FunctionArn"]
    s3.put_bucket_notification_configuration(Bucket="photos", NotificationConfiguration={
        "LambdaFunctionConfigurations": [{"LambdaFunctionArn": arn,
                                          "Events": ["s3:ObjectCreated:*"]}]})  # fmt: skip
    # through the AWS CLI
    photo = tmp_path / "beach trip.jpg"
    photo.write_bytes(jpeg(1024, 768))
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
           "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip
    subprocess.run(
        [AWS, "--endpoint-url", server.url, "s3", "cp", str(photo), "s3://photos/beach trip.jpg"],
        env=env,
        check=True,
        capture_output=True,
    )
    # through boto3
    s3.put_object(Bucket="photos", Key="portrait.jpg", Body=jpeg(600, 900),
                  ContentType="image/jpeg")  # fmt: skip

    def thumbnail(key: str) -> Image.Image | None:
        try:
            body = s3.get_object(Bucket="photos-thumbs", Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None
        return Image.open(io.BytesIO(body))

    landscape = wait_for(lambda: thumbnail("thumb-beach trip.jpg"), timeout=60)
    assert landscape.format == "JPEG" and landscape.size == (128, 96)
    portrait = wait_for(lambda: thumbnail("thumb-portrait.jpg"), timeout=60)
    assert portrait.size == (85, 128)

    def logged() -> list[str]:
        found = logs.filter_log_events(logGroupName="/aws/lambda/thumbnails",
                                       filterPattern="thumbnail")["events"]  # fmt: skip
        return [e["message"] for e in found if "thumbnail s3://" in e["message"]]

    lines = wait_for(lambda: (lambda got: got if len(got) >= 2 else None)(logged()), timeout=30)
    assert any("thumb-beach trip.jpg: 128x96" in line for line in lines)
    assert any("thumb-portrait.jpg: 85x128" in line for line in lines)
