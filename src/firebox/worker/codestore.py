"""Content-addressed storage of function and layer zips, each unpacked once and checked for
hostility, and the merged /opt trees of layer combinations, each built once."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import stat
import uuid
import zipfile
import zlib
from collections.abc import Sequence
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
    """A stored code package: its hex SHA-256, zipped size and unzipped size."""

    sha256: str
    size: int
    unzipped: int = 0


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
                and not self._merged_marker(tree.name).exists()
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

    def unzipped_size(self, sha256: str) -> int:
        """A stored package's unzipped size, as its zip declares it (what Lambda's limits count)."""
        try:
            with zipfile.ZipFile(self.zip_path(sha256)) as archive:
                return sum(member.file_size for member in archive.infolist())
        except (OSError, zipfile.BadZipFile):
            return 0

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
            return StoredCode(sha, len(data), self.unzipped_size(sha))
        staging = self.root / f".tmp-{uuid.uuid4().hex}"
        zip_tmp = self.root / f".tmp-{uuid.uuid4().hex}.zip"
        try:
            unzipped = _safe_unpack(data, staging)
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
        return StoredCode(sha, len(data), unzipped)

    def remove(self, sha256: str) -> None:
        """Deletes a package nothing refers to any more, and the merged trees holding it."""
        self._drop_tree(sha256)
        self.zip_path(sha256).unlink(missing_ok=True)
        for tree in self.merged_with(sha256):
            self._merged_marker(tree.name).unlink(missing_ok=True)  # first: see merge()
            self._drop_tree(tree.name)

    # ----- layers: /opt as the layers' files merged in order ---------------------------------
    def merged_with(self, sha256: str) -> list[Path]:
        """The merged trees holding a package."""
        trees = []
        for marker in self.root.glob("*.merged"):
            try:
                held = marker.read_text().split()
            except FileNotFoundError:  # removed meanwhile (a collection in a thread)
                continue
            if sha256 in held:
                trees.append(self.unpacked(marker.name.removesuffix(".merged")))
        return trees

    def drop_merged(self, layers: Sequence[str]) -> None:
        """Deletes a combination's merged tree (not one layer's own: that is its package)."""
        if len(layers) > 1:
            key = merged_key(layers)
            self._merged_marker(key).unlink(missing_ok=True)  # first: see merge()
            self._drop_tree(key)

    def _merged_marker(self, key: str) -> Path:
        return self.root / f"{key}.merged"

    def opt_tree(self, layers: Sequence[str]) -> Path | None:
        """Where the merged /opt of these layer packages (in their order) is, built or not:
        one layer's own tree, or a tree of its own for a combination; None for no layers."""
        if not layers:
            return None
        if len(layers) == 1:
            return self.unpacked(layers[0])
        return self.unpacked(merged_key(layers))

    def merge(self, layers: Sequence[str]) -> Path | None:
        """The merged /opt of these stored layer packages, built once per combination: each
        layer's files over the ones before it (hard links, so it costs no copy)."""
        tree = self.opt_tree(layers)
        if tree is None or len(layers) == 1 or self._merged_marker(tree.name).exists():
            return tree
        for sha256 in layers:
            if not self.unpacked(sha256).is_dir():  # its zip stored, its tree not yet (a crash)
                self.put(self.zip_path(sha256).read_bytes())
        staging = self.root / f".tmp-{uuid.uuid4().hex}"
        try:
            staging.mkdir()
            for sha256 in layers:
                _overlay(self.unpacked(sha256), staging)
            staging.chmod(0o755)
            _check_links(staging)
            if tree.is_dir():  # a partial one (a crash before its marker): built again
                self._drop_tree(tree.name)
            os.rename(staging, tree)
            # Written last: a tree without its marker is dropped at the next start.
            self._merged_marker(tree.name).write_text(" ".join(layers))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return tree


def merged_key(layers: Sequence[str]) -> str:
    """The name of a combination's merged tree (its packages in order), as long as a sha's."""
    return hashlib.sha256(("layers:" + ",".join(layers)).encode()).hexdigest()


def _overlay(source: Path, dest: Path) -> None:
    """Puts source's files into dest, replacing what is there (a later layer's file wins,
    as when Lambda extracts each layer into /opt in turn)."""
    for root, dirs, files in os.walk(source):
        # Bytecode is compiled for the merged tree itself: a layer's own (unchecked-hash)
        # .pyc of a module a later layer replaces would otherwise be loaded instead.
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        files = [f for f in files if f != "__pycache__"]
        rel = os.path.relpath(root, source)
        target_dir = dest if rel == "." else dest / rel
        for name in dirs:
            src, dst = os.path.join(root, name), target_dir / name
            if os.path.islink(src):
                _replace(dst)
                os.symlink(os.readlink(src), dst)
            elif not dst.is_dir() or dst.is_symlink():
                _replace(dst)
                dst.mkdir()
                dst.chmod(0o755)  # whatever the server's umask: environments run as others
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(root, d))]
        for name in files:
            src, dst = os.path.join(root, name), target_dir / name
            _replace(dst)
            if os.path.islink(src):
                os.symlink(os.readlink(src), dst)
            else:
                os.link(src, dst)  # the same file: read-only in every environment


def _check_links(tree: Path) -> None:
    """Refuses a merged tree with a link that leads out of it. Each layer's links stay inside
    that layer, but one layer's link can pass through another's: `q -> .` in one and
    `p/x -> ../q/../..` in the next (`q` absent there, so the path looked harmless)."""
    root = os.path.realpath(tree)
    for dirpath, dirs, files in os.walk(tree):
        for name in dirs + files:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                resolved = os.path.realpath(path)
                if resolved != root and not resolved.startswith(root + os.sep):
                    rel = os.path.relpath(path, tree)
                    raise InvalidParameterValueException(
                        f"These layers cannot be used together: the link '{rel}' of one "
                        "leads, through another, out of /opt."
                    )


def _replace(path: Path) -> None:
    """Clears the way for a later layer's entry of the same name."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)


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


def _safe_unpack(data: bytes, dest: Path) -> int:
    """Unpacks into dest, refusing path escapes, escaping symlinks and zip bombs; returns the
    unzipped size the zip declares."""
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
    return declared


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
