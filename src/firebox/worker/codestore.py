"""Content-addressed storage of function zips, each unpacked once and checked for hostility."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import uuid
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from firebox.domain.errors import InvalidParameterValueException

MAX_ZIPPED_BYTES = 50 * 1024 * 1024
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024
# Lambda sets no count, but unpacking is paid for while the store is locked; large real
# packages (numpy + pandas + scipy + boto3) hold ~15,000 files.
MAX_ENTRIES = 50_000
_CHUNK = 1024 * 1024


@dataclass(frozen=True)
class StoredCode:
    """A stored code package: its hex SHA-256 and zipped size."""

    sha256: str
    size: int


class CodeStore:
    """Keeps `<sha>.zip` and its unpacked tree `<sha>/` under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        for leftover in root.glob(".tmp-*"):  # a crash mid-unpack leaves these behind
            shutil.rmtree(leftover, ignore_errors=True) if leftover.is_dir() else leftover.unlink()
        for tree in root.iterdir():  # a zip is written before its tree: none, a partial tree
            if (
                tree.is_dir()
                and not tree.name.startswith(".")
                and not self.zip_path(tree.name).exists()
            ):
                self._drop_tree(tree.name)

    def _drop_tree(self, sha256: str) -> None:
        """Removes a package's tree and what precompile.py said of it (its markers)."""
        if self.unpacked(sha256).is_dir():
            stale = self.root / f".tmp-{uuid.uuid4().hex}"
            os.rename(self.unpacked(sha256), stale)  # gone at once, whatever rmtree meets
            shutil.rmtree(stale, ignore_errors=True)
        for marker in self.root.glob(f"{sha256}.compiled-*"):
            marker.unlink(missing_ok=True)

    def zip_path(self, sha256: str) -> Path:
        return self.root / f"{sha256}.zip"

    def unpacked(self, sha256: str) -> Path:
        return self.root / sha256

    def put(self, data: bytes) -> StoredCode:
        """Validates and stores a zip; storing the same bytes again is free."""
        if len(data) > MAX_ZIPPED_BYTES:
            raise InvalidParameterValueException(
                f"Zipped code size {len(data)} bytes exceeds the maximum of {MAX_ZIPPED_BYTES} "
                "bytes for a direct upload."
            )
        sha = hashlib.sha256(data).hexdigest()
        target = self.unpacked(sha)
        if target.is_dir() and self.zip_path(sha).is_file():
            return StoredCode(sha, len(data))
        staging = self.root / f".tmp-{uuid.uuid4().hex}"
        zip_tmp = self.root / f".tmp-{uuid.uuid4().hex}.zip"
        try:
            _safe_unpack(data, staging)
            zip_tmp.write_bytes(data)
            os.replace(zip_tmp, self.zip_path(sha))
            if target.is_dir():
                # A tree without its zip is what an interrupted removal leaves (or one a
                # background precompile wrote into while it was being removed): partial,
                # so it is replaced whole rather than trusted, and so is its compiled marker.
                self._drop_tree(sha)
            os.rename(staging, target)
        except BaseException:  # a full disk, say: nothing half-written stays behind
            shutil.rmtree(staging, ignore_errors=True)
            zip_tmp.unlink(missing_ok=True)
            raise
        return StoredCode(sha, len(data))

    def remove(self, sha256: str) -> None:
        """Deletes a package no function refers to any more."""
        self._drop_tree(sha256)
        self.zip_path(sha256).unlink(missing_ok=True)


def _reject(reason: str) -> InvalidParameterValueException:
    return InvalidParameterValueException(f"Could not unzip uploaded file: {reason}")


def _check_member_name(name: str) -> str:
    normalised = name.replace("\\", "/")
    if normalised.startswith("/") or (len(normalised) > 1 and normalised[1] == ":"):
        raise _reject(f"entry '{name}' has an absolute path")
    parts = [p for p in normalised.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _reject(f"entry '{name}' leaves the package with '..'")
    return "/".join(parts)


def _safe_unpack(data: bytes, dest: Path) -> None:
    """Unpacks into dest, refusing path escapes, escaping symlinks and zip bombs."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, ValueError, EOFError):
        raise InvalidParameterValueException(
            "Could not unzip uploaded file. Please check your file, then try to upload again."
        ) from None
    if len(members) > MAX_ENTRIES:
        raise _reject(
            f"the package holds {len(members)} entries; at most {MAX_ENTRIES} are allowed"
        )
    declared = sum(m.file_size for m in members)
    if declared > MAX_UNZIPPED_BYTES:
        raise InvalidParameterValueException(
            f"Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes"
        )
    dest.mkdir(parents=True)
    try:
        with archive:
            _extract(archive, members, dest)
    except OSError as exc:  # e.g. a file and a directory of one name, a name too long
        raise _reject(f"{exc.strerror or exc} ({os.path.basename(exc.filename or '')})") from None
    except NotImplementedError:  # a compression method Python's zipfile lacks (deflate64)
        raise _reject("an entry uses a compression method Lambda does not read") from None
    except RuntimeError:  # zipfile's word for an encrypted entry
        raise _reject("an entry is encrypted (password-protected zips cannot be used)") from None
    except ValueError:  # a name no file system takes (an embedded NUL)
        raise _reject("an entry's name is not a valid file name") from None


def _extract(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], dest: Path) -> None:
    written = 0
    links: list[tuple[str, str]] = []
    for member in members:
        rel = _check_member_name(member.filename)
        if not rel:
            continue
        path = dest / rel
        mode = member.external_attr >> 16
        if member.is_dir():
            path.mkdir(parents=True, exist_ok=True)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        if stat.S_ISLNK(mode):
            # Created after every file, so no entry is ever written through a link.
            links.append((rel, archive.read(member).decode("utf-8", "replace")))
            continue
        try:
            with archive.open(member) as src, open(path, "wb") as out:
                while chunk := src.read(_CHUNK):
                    written += len(chunk)
                    if written > MAX_UNZIPPED_BYTES:  # headers can lie about sizes
                        raise InvalidParameterValueException(
                            f"Unzipped size must be smaller than {MAX_UNZIPPED_BYTES} bytes"
                        )
                    out.write(chunk)
        except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
            raise _reject(f"entry '{member.filename}' is corrupt ({exc})") from None
        # Readable by everyone (environments run unprivileged); keep the executable bit.
        path.chmod(0o755 if mode & 0o111 else 0o644)
    _make_links(dest, links)
    # Directories inside may have been created by zip entries with odd modes.
    for root, dirs, _files in os.walk(dest):
        for d in dirs:
            full = os.path.join(root, d)
            if not os.path.islink(full):
                os.chmod(full, 0o755)
    dest.chmod(0o755)


def _make_links(dest: Path, links: list[tuple[str, str]]) -> None:
    """Creates the package's symlinks, refusing any whose resolution leaves the package."""
    root = os.path.realpath(dest)
    for rel, target in links:
        parent = os.path.realpath((dest / rel).parent)
        if os.path.isabs(target) or not (parent == root or parent.startswith(root + os.sep)):
            raise _reject(f"symlink '{rel}' points outside the package")
        try:
            os.symlink(target, dest / rel)
        except OSError as exc:
            raise _reject(f"symlink '{rel}' cannot be created ({exc.strerror})") from None
    for rel, _target in links:
        # realpath follows whole chains, so links through other links are checked too.
        resolved = os.path.realpath(dest / rel)
        if resolved != root and not resolved.startswith(root + os.sep):
            raise _reject(f"symlink '{rel}' points outside the package")
