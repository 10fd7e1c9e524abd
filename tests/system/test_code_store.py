"""Hostile zips: every one refused with InvalidParameterValueException and nothing stored."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from typing import Any

import pytest
from botocore.exceptions import ClientError

from support import FireboxServer, create_function, function_names, invoke_json, make_zip, unique

HANDLER = b"def handler(e, c):\n    return 'ok'\n"


def raw_zip(entries: list[tuple[str, bytes, int]]) -> bytes:
    """A zip with exact entry names and unix modes (zipfile would not write some of them)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data, mode in entries:
            info = zipfile.ZipInfo("placeholder")
            info.filename = name  # bypasses ZipInfo's sanitising of '..' and '/'
            info.external_attr = mode << 16
            zf.writestr(info, data)
    return buf.getvalue()


def link(name: str, target: str) -> tuple[str, bytes, int]:
    return (name, target.encode(), stat.S_IFLNK | 0o777)


def file(name: str, data: bytes = HANDLER) -> tuple[str, bytes, int]:
    return (name, data, stat.S_IFREG | 0o644)


def bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        zf.writestr("app.py", HANDLER)
        with zf.open("zeros.bin", "w", force_zip64=True) as out:
            chunk = b"\0" * (1 << 20)
            for _ in range(251):
                out.write(chunk)
    return buf.getvalue()


HOSTILE = {
    "absolute path": raw_zip([file("app.py"), file("/etc/firebox-pwned")]),
    "dot-dot path": raw_zip([file("app.py"), file("../../firebox-pwned")]),
    "nested dot-dot": raw_zip([file("app.py"), file("lib/../../firebox-pwned")]),
    "absolute symlink": raw_zip([file("app.py"), link("shadow", "/etc/shadow")]),
    "escaping symlink": raw_zip([file("app.py"), link("up", "../../..")]),
    "symlink chain": raw_zip([file("app.py"), link("a/l", ".."), link("a/l/x", "../outside")]),
    "write through symlink": raw_zip([file("app.py"), link("d", "/tmp"), file("d/pwned")]),
    "not a zip": b"PK\x03\x04 truncated garbage",
    "file and directory of one name": raw_zip([file("app.py"), file("x"), file("x/y")]),
    "name too long": raw_zip([file("app.py"), file("a" * 300 + ".py")]),
}


def snapshot(server: FireboxServer) -> set[str]:
    root = server.data_dir / "code"
    # Compiled bytecode (__pycache__, written in the background) is derived, not stored code.
    paths = {str(p.relative_to(root)) for p in root.rglob("*")}
    return {p for p in paths if "__pycache__" not in p and ".compiled-" not in p}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_zip_is_refused_and_nothing_stored(
    lam: Any, server: FireboxServer, kind: str
) -> None:
    before = snapshot(server)
    name = unique("hostile")
    with pytest.raises(ClientError) as exc:
        create_function(lam, {}, FunctionName=name, Code={"ZipFile": HOSTILE[kind]})
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert snapshot(server) == before
    assert not os.path.exists("/etc/firebox-pwned") and not os.path.exists("/tmp/pwned")
    names = function_names(lam)
    assert name not in names


def test_zip_bomb_is_refused(lam: Any, server: FireboxServer) -> None:
    before = snapshot(server)
    with pytest.raises(ClientError) as exc:
        create_function(lam, {}, Code={"ZipFile": bomb()})
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "Unzipped size must be smaller than 262144000 bytes" in str(exc.value)
    assert snapshot(server) == before


def test_too_many_entries_is_refused(lam: Any, server: FireboxServer) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(50_001):
            zf.writestr(f"f{i}", b"")
    before = snapshot(server)
    with pytest.raises(ClientError) as exc:
        create_function(lam, {}, Code={"ZipFile": buf.getvalue()})
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "at most 50000" in str(exc.value)
    assert snapshot(server) == before


def test_upload_over_50_mb_is_refused(lam: Any, server: FireboxServer) -> None:
    big = make_zip({"app.py": HANDLER, "blob.bin": os.urandom(51 * 1024 * 1024)})
    before = snapshot(server)
    with pytest.raises(ClientError) as exc:
        create_function(lam, {}, Code={"ZipFile": big})
    # Base64-encoded, 51 MB is over the request cap: refused before it is read, as on AWS.
    assert exc.value.response["Error"]["Code"] == "RequestTooLargeException"
    assert exc.value.response["Error"]["Message"] == (
        "Request must be smaller than 70167211 bytes for the CreateFunction operation"
    )
    # Just over 50 MB fits in a request: the code store refuses it, naming the limit.
    bigger = make_zip({"app.py": HANDLER, "blob.bin": os.urandom(50 * 1024 * 1024 + 4096)})
    with pytest.raises(ClientError) as exc:
        create_function(lam, {}, Code={"ZipFile": bigger})
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValueException"
    assert "exceeds the maximum" in exc.value.response["Error"]["Message"]
    assert snapshot(server) == before


def test_hostile_update_keeps_the_running_code(lam: Any) -> None:
    name = create_function(lam, HANDLER.decode())
    with pytest.raises(ClientError):
        lam.update_function_code(FunctionName=name, ZipFile=HOSTILE["escaping symlink"])
    assert invoke_json(lam, name)[0] == "ok"


def test_safe_symlinks_and_permissions_are_kept(lam: Any) -> None:
    code = (
        b"import os\n"
        b"def handler(e, c):\n"
        b"    return [open('data/link.txt').read(), os.access('tool.sh', os.X_OK)]\n"
    )
    zipped = raw_zip([
        file("app.py", code), file("data/real.txt", b"content"),
        link("data/link.txt", "real.txt"), ("tool.sh", b"#!/bin/sh\n", stat.S_IFREG | 0o755),
    ])  # fmt: skip
    name = create_function(lam, {}, Code={"ZipFile": zipped})
    assert invoke_json(lam, name)[0] == ["content", True]


def test_identical_code_is_stored_once(lam: Any, server: FireboxServer) -> None:
    zipped = make_zip({"app.py": HANDLER + b"# shared\n"})
    create_function(lam, {}, Code={"ZipFile": zipped})
    before = snapshot(server)
    second = create_function(lam, {}, Code={"ZipFile": zipped})
    assert snapshot(server) == before
    # Deleting one user of the package keeps it for the other.
    lam.delete_function(FunctionName=second)
    assert snapshot(server) == before


def test_partial_tree_left_by_a_removal_is_replaced(tmp_path: Any) -> None:
    """Storing a package again after an interrupted removal (its zip gone, part of its tree
    left, e.g. written into by a background precompile) yields the whole package."""
    from firebox.worker.codestore import CodeStore

    store = CodeStore(tmp_path / "code")
    data = make_zip({"app.py": "def handler(e, c):\n    return 1\n", "pkg/m.py": "X = 1\n"})
    sha = store.put(data).sha256
    tree = store.unpacked(sha)
    (tree / "app.py").unlink()  # what a removal got through before it was interrupted
    store.zip_path(sha).unlink()
    marker = tmp_path / "code" / f"{sha}.compiled-0123456789ab"
    marker.touch()  # precompile.py's "compiled": it described the partial tree
    assert store.put(data).sha256 == sha
    assert not marker.exists()
    assert sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*.py")) == [
        "app.py",
        "pkg/m.py",
    ]
    assert store.zip_path(sha).read_bytes() == data
    assert not list((tmp_path / "code").glob(".tmp-*"))


def test_partial_tree_is_swept_at_start(tmp_path: Any) -> None:
    """A tree without its zip found when the server starts is removed with its marker."""
    from firebox.worker.codestore import CodeStore

    store = CodeStore(tmp_path / "code")
    kept = store.put(make_zip({"app.py": "X = 1\n"})).sha256
    orphan = tmp_path / "code" / ("f" * 64)
    (orphan / "pkg" / "__pycache__").mkdir(parents=True)
    (tmp_path / "code" / f"{'f' * 64}.compiled-0123456789ab").touch()
    CodeStore(tmp_path / "code")
    assert sorted(p.name for p in (tmp_path / "code").iterdir()) == [kept, f"{kept}.zip"]
