"""Makes a thumbnail of every image uploaded to a bucket, into the bucket `<bucket>-thumbs`.

The function of AWS's "Using an Amazon S3 trigger to create thumbnail images" tutorial, as
it runs on AWS: nothing in it knows about firebox."""

import io
import os
from urllib.parse import unquote_plus

import boto3
from PIL import Image

s3 = boto3.client("s3")  # made once, at init: warm invokes reuse it
SIZE = int(os.environ.get("THUMBNAIL_SIZE", "128"))


def handler(event, context):
    for record in event["Records"]:
        bucket = record["s3"]["bucket"]["name"]
        key = unquote_plus(record["s3"]["object"]["key"])  # S3 form-encodes keys in events
        original = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        with Image.open(io.BytesIO(original)) as image:
            image.thumbnail((SIZE, SIZE))
            out = io.BytesIO()
            image.convert("RGB").save(out, format="JPEG", quality=85)
            width, height = image.size
        target = f"{bucket}-thumbs"
        s3.put_object(
            Bucket=target, Key=f"thumb-{key}", Body=out.getvalue(), ContentType="image/jpeg"
        )
        print(
            f"thumbnail s3://{target}/thumb-{key}: {width}x{height}, "
            f"{out.tell()} bytes (from {len(original)} bytes)"
        )
    return {"thumbnails": len(event["Records"])}
