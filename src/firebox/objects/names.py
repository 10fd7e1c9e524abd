"""S3's rules for bucket names and object keys."""

from __future__ import annotations

import ipaddress
import re

from firebox.objects.errors import S3Error

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
MAX_KEY_BYTES = 1024
# Prefixes and suffixes S3 reserves (access points, Outposts, S3 Express directory buckets).
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def check_bucket_name(name: str) -> None:
    """Raises InvalidBucketName unless `name` follows S3's general-purpose bucket rules."""
    if (
        not _BUCKET.match(name)
        or ".." in name
        or ".-" in name
        or "-." in name
        or name.startswith(_RESERVED_PREFIXES)
        or name.endswith(_RESERVED_SUFFIXES)
        or _is_ip(name)
    ):
        raise S3Error("InvalidBucketName", "The specified bucket is not valid.", 400, name)


def _is_ip(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True


def could_be_bucket(name: str) -> bool:
    """Whether `name` is a valid bucket name (without raising)."""
    try:
        check_bucket_name(name)
    except S3Error:
        return False
    return True


def check_key(key: str) -> None:
    """Raises KeyTooLongError for a key of more than 1,024 UTF-8 bytes, as S3 does."""
    if not key:
        raise S3Error("InvalidArgument", "An object key must not be empty")
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise S3Error("KeyTooLongError", "Your key is too long", 400, key[:100])
