"""Merged /opt trees of layer combinations in the code store: a later layer's entry wins
(files over directories and back, symlinks kept as links), each combination is built once,
kept across a restart, and dropped with the packages it holds."""

from __future__ import annotations

import io
import os
import stat
import zipfile
from pathlib import Path

from firebox.worker.codestore import CodeStore


def zipped(files: dict[str, str], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)
        for name, target in (links or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return buf.getvalue()


def test_later_layers_win_and_the_tree_is_built_once(tmp_path: Path) -> None:
    store = CodeStore(tmp_path / "code")
    links = {"lib/libz.so": "libz.so.1", "lib/libz.so.1": "../bin/tool"}
    first = store.put(zipped({"python/a.py": "first", "python/only.py": "1",
                              "data/x/inner": "dir in first", "bin/tool": "t"}, links))  # fmt: skip
    second = store.put(zipped({"python/a.py": "second", "data/x": "file in second"}))
    assert first.unzipped == len("first1dir in firstt") + len("libz.so.1../bin/tool")
    tree = store.merge([first.sha256, second.sha256])
    assert tree is not None and tree == store.opt_tree([first.sha256, second.sha256])
    assert (tree / "python/a.py").read_text() == "second"
    assert (tree / "python/only.py").read_text() == "1"
    assert (tree / "data/x").read_text() == "file in second"
    assert os.readlink(tree / "lib/libz.so") == "libz.so.1"
    assert (tree / "lib/libz.so").read_text() == "t"  # resolves inside the merged tree
    # the same inode as the layer's own file: no copy
    assert (tree / "python/only.py").stat().st_ino == (
        store.unpacked(first.sha256) / "python/only.py"
    ).stat().st_ino
    reverse = store.merge([second.sha256, first.sha256])
    assert reverse is not None and reverse != tree
    assert (reverse / "python/a.py").read_text() == "first"
    assert (reverse / "data/x/inner").read_text() == "dir in first"
    mtime = tree.stat().st_mtime_ns
    assert store.merge([first.sha256, second.sha256]) == tree and tree.stat().st_mtime_ns == mtime
    # one layer is its own tree; none is no tree
    assert store.merge([first.sha256]) == store.unpacked(first.sha256)
    assert store.merge([]) is None


def test_merged_trees_survive_a_restart_and_go_with_their_packages(tmp_path: Path) -> None:
    store = CodeStore(tmp_path / "code")
    one = store.put(zipped({"python/one.py": ""}))
    two = store.put(zipped({"python/two.py": ""}))
    three = store.put(zipped({"python/three.py": ""}))
    both = store.merge([one.sha256, two.sha256])
    other = store.merge([two.sha256, three.sha256])
    assert both is not None and other is not None
    store = CodeStore(tmp_path / "code")  # a restart keeps complete trees
    assert (both / "python/one.py").exists() and (other / "python/three.py").exists()
    assert store.merged_with(one.sha256) == [both]
    store.remove(one.sha256)
    assert not both.exists() and (other / "python/two.py").exists()


def test_a_tree_without_its_marker_is_built_again(tmp_path: Path) -> None:
    store = CodeStore(tmp_path / "code")
    one = store.put(zipped({"python/one.py": "1"}))
    two = store.put(zipped({"python/two.py": "2"}))
    tree = store.merge([one.sha256, two.sha256])
    assert tree is not None
    (tmp_path / "code" / f"{tree.name}.merged").unlink()  # as a crash before it was written
    (tree / "python/two.py").unlink()
    store = CodeStore(tmp_path / "code")
    assert not tree.exists()  # partial: dropped at start
    rebuilt = store.merge([one.sha256, two.sha256])
    assert rebuilt == tree and (tree / "python/two.py").read_text() == "2"


def test_links_that_leave_the_tree_through_another_layer_are_refused(tmp_path: Path) -> None:
    store = CodeStore(tmp_path / "code")
    victim = store.put(zipped({"foo.py": "VICTIM = True"}))
    # Each is harmless alone: `q` is absent from the second, so `q/..` looked like a no-op.
    first = store.put(zipped({"python/a.py": ""}, {"q": "."}))
    links = {"p/__pycache__": f"../q/../{victim.sha256}/__pycache__",  # never merged
             "p/leak": f"../q/../{victim.sha256}"}  # fmt: skip
    second = store.put(zipped({"p/foo.py": "pwned"}, links))
    import pytest

    from firebox.domain.errors import InvalidParameterValueException

    with pytest.raises(InvalidParameterValueException, match="out of /opt"):
        store.merge([first.sha256, second.sha256])
    assert store.opt_tree([first.sha256, second.sha256]) is not None
    assert not store.opt_tree([first.sha256, second.sha256]).exists()  # type: ignore[union-attr]
    assert not list((tmp_path / "code").glob(".tmp-*"))  # nothing half-built stays


def test_merged_directories_are_readable_whatever_the_umask(tmp_path: Path) -> None:
    store = CodeStore(tmp_path / "code")
    one = store.put(zipped({"python/pkg/one.py": ""}))
    two = store.put(zipped({"python/pkg/two.py": "", "bin/tool": ""}))
    old = os.umask(0o077)
    try:
        tree = store.merge([one.sha256, two.sha256])
    finally:
        os.umask(old)
    assert tree is not None
    for directory in (tree, tree / "python", tree / "python/pkg", tree / "bin"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o755, directory


def test_precompile_never_writes_through_links(tmp_path: Path) -> None:
    import subprocess
    import sys

    from firebox.worker.precompile import SCRIPT

    outside = tmp_path / "outside"
    outside.mkdir()
    package = tmp_path / "package"
    (package / "p").mkdir(parents=True)
    (package / "p" / "mod.py").write_text("X = 1\n")
    (package / "p" / "__pycache__").symlink_to(outside)
    (package / "q").mkdir()
    (package / "q" / "linked.py").symlink_to(package / "p" / "mod.py")
    subprocess.run([sys.executable, "-S", "-c", SCRIPT, str(package), "/opt"], check=True)
    assert list(outside.iterdir()) == []
    assert not (package / "q" / "__pycache__").exists()
