"""What S3 computes over an object's bytes as they stream in: the MD5 behind its ETag and the
`x-amz-checksum-*` values (CRC32, CRC32C, CRC64NVME, SHA1, SHA256) a client asked for."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Iterable
from typing import Any

from awscrt import checksums as crt  # type: ignore[import-untyped]

from firebox.objects.errors import S3Error

ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")
HEADERS = {f"x-amz-checksum-{a.lower()}": a for a in ALGORITHMS}
_CRC_BYTES = {"CRC32": 4, "CRC32C": 4, "CRC64NVME": 8}
_CRCS: dict[str, Callable[[bytes, int], int]] = {
    "CRC32": crt.crc32, "CRC32C": crt.crc32c, "CRC64NVME": crt.crc64nvme,
}  # fmt: skip


class _Crc:
    """A running CRC of one of S3's polynomials."""

    def __init__(self, algorithm: str) -> None:
        self._update = _CRCS[algorithm]
        self._size = _CRC_BYTES[algorithm]
        self._value = 0

    def update(self, data: bytes) -> None:
        self._value = self._update(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(self._size, "big")


def _hasher(algorithm: str) -> Any:
    if algorithm in _CRCS:
        return _Crc(algorithm)
    return hashlib.new(algorithm.lower())


def check_algorithm(algorithm: str) -> str:
    """The algorithm's canonical name; InvalidRequest for one S3 does not know."""
    upper = algorithm.upper()
    if upper not in ALGORITHMS:
        raise S3Error("InvalidRequest", f"Checksum algorithm provided is unsupported. Please "
                      f"try again with any of the valid types: {list(ALGORITHMS)}")  # fmt: skip
    return upper


class Digests:
    """The MD5 and the requested checksums of a byte stream, fed as it arrives."""

    def __init__(self, algorithms: Iterable[str] = ()) -> None:
        self.md5 = hashlib.md5(usedforsecurity=False)
        self._others = {a: _hasher(a) for a in algorithms}
        self.size = 0

    def update(self, data: bytes) -> None:
        self.size += len(data)
        self.md5.update(data)
        for hasher in self._others.values():
            hasher.update(data)

    def etag(self) -> str:
        return self.md5.hexdigest()

    def checksum(self, algorithm: str) -> str:
        """A requested checksum, base64 as S3 writes it."""
        return base64.b64encode(self._others[algorithm].digest()).decode()

    def has(self, algorithm: str) -> bool:
        return algorithm in self._others

    def checksums(self) -> dict[str, str]:
        return {a: self.checksum(a) for a in self._others}


def wanted(headers: dict[str, str]) -> dict[str, str]:
    """The checksums a request's headers claim (algorithm → base64 value)."""
    return {algorithm: headers[name] for name, algorithm in HEADERS.items() if name in headers}


def verify(claimed: dict[str, str], digests: Digests) -> None:
    """BadDigest unless every claimed checksum (and Content-MD5) matches what arrived."""
    for algorithm, value in claimed.items():
        if algorithm == "MD5":
            if base64.b64encode(digests.md5.digest()).decode() != value:
                raise S3Error("BadDigest", "The Content-MD5 you specified did not match what "
                              "we received.")  # fmt: skip
        elif not digests.has(algorithm):
            raise S3Error(
                "InvalidRequest",
                f"The {algorithm} checksum was sent without the "
                "x-amz-trailer or x-amz-sdk-checksum-algorithm header naming it",
            )
        elif digests.checksum(algorithm) != value:
            raise S3Error("BadDigest", f"The {algorithm} you specified did not match the "
                          "calculated checksum.")  # fmt: skip


def composite(algorithm: str, parts: list[str]) -> str:
    """A multipart object's checksum: the checksum of its parts' checksums, `-<parts>`."""
    hasher = _hasher(algorithm)
    for value in parts:
        hasher.update(base64.b64decode(value))
    return f"{base64.b64encode(hasher.digest()).decode()}-{len(parts)}"


def multipart_etag(part_etags: list[str]) -> str:
    """S3's ETag of a multipart object: the MD5 of its parts' binary MD5s, `-<parts>`."""
    md5 = hashlib.md5(usedforsecurity=False)
    for etag in part_etags:
        md5.update(bytes.fromhex(etag))
    return f"{md5.hexdigest()}-{len(part_etags)}"
