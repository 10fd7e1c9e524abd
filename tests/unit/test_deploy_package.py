"""Packaging a service as the Framework does: patterns, `individually`, `artifact`, the same
files making the same zip, and dependencies installed with the real pip and npm (offline: from
a wheel and a tarball made here), cached by their content."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from firebox.deploy import package as packaging
from firebox.deploy.package import Packager, select
from firebox.deploy.yamlfile import ConfigError


def names(data: bytes) -> set[str]:
    return set(zipfile.ZipFile(io.BytesIO(data)).namelist())


def service(root: Path, files: dict[str, str], **config: Any) -> dict[str, Any]:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return {
        "service": "s",
        "provider": {"runtime": "python3.11", **config.pop("provider", {})},
        "functions": config.pop("functions", {"f": {"handler": "h.handler"}}),
        **config,
    }


FILES = {"h.py": "x", "lib/util.py": "u", "tests/test_h.py": "t", "tests/keep.py": "k",
         "README.md": "r", "serverless.yml": "s", ".env": "SECRET=1", ".git/HEAD": "ref",
         "lib/__pycache__/util.cpython-311.pyc": "c"}  # fmt: skip


def test_defaults_and_patterns_in_order(tmp_path: Path) -> None:
    paths = sorted(FILES)
    assert select(paths, []) == ["README.md", "h.py", "lib/util.py", "tests/keep.py",
                                 "tests/test_h.py"]  # fmt: skip
    assert select(paths, ["!tests/**", "tests/keep.py", "!*.md"]) == [
        "h.py", "lib/util.py", "tests/keep.py"]  # fmt: skip
    assert select(paths, ["!**", "h.py"]) == ["h.py"]
    assert select(paths, ["!**/util.py"]) == ["README.md", "h.py", "tests/keep.py",
                                              "tests/test_h.py"]  # fmt: skip


def test_the_same_files_make_the_same_zip(tmp_path: Path) -> None:
    config = service(tmp_path, FILES, package={"patterns": ["!tests/**"]})
    first = Packager(config, tmp_path, tmp_path / "cache").packages()["f"]
    os.utime(tmp_path / "h.py", (1, 1))  # a new mtime, the same content
    (tmp_path / "lib" / "util.py").chmod(0o600)  # a mode that is not executable either way
    again = Packager(config, tmp_path, tmp_path / "cache").packages()["f"]
    assert again.sha256 == first.sha256 == hashlib.sha256(first.data).hexdigest()
    assert names(first.data) == {"h.py", "lib/util.py", "README.md"}
    (tmp_path / "h.py").write_text("y")
    assert Packager(config, tmp_path, tmp_path / "cache").packages()["f"].sha256 != first.sha256


def test_executables_keep_their_bit(tmp_path: Path) -> None:
    config = service(tmp_path, {"bootstrap": "#!/bin/sh\n", "h.py": "x"})
    (tmp_path / "bootstrap").chmod(0o755)
    data = Packager(config, tmp_path, tmp_path / "cache").packages()["f"].data
    modes = {
        i.filename: i.external_attr >> 16 for i in zipfile.ZipFile(io.BytesIO(data)).infolist()
    }
    assert modes == {"bootstrap": 0o100755, "h.py": 0o100644}


def test_individually_and_artifacts(tmp_path: Path) -> None:
    prebuilt = io.BytesIO()
    with zipfile.ZipFile(prebuilt, "w") as archive:
        archive.writestr("built.py", "b")
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "built.zip").write_bytes(prebuilt.getvalue())
    config = service(tmp_path, {"a.py": "a", "b.py": "b", "shared.py": "s"},
                     package={"individually": True, "patterns": ["!dist/**"]},
                     functions={"a": {"handler": "a.h", "package": {"patterns": ["!b.py"]}},
                                "b": {"handler": "b.h", "package": {"patterns": ["!a.py"]}},
                                "c": {"handler": "built.h",
                                      "package": {"artifact": "dist/built.zip"}}})  # fmt: skip
    packages = Packager(config, tmp_path, tmp_path / "cache").packages()
    assert names(packages["a"].data) == {"a.py", "shared.py"}
    assert names(packages["b"].data) == {"b.py", "shared.py"}
    assert packages["c"].data == prebuilt.getvalue()
    config["functions"]["c"]["package"]["artifact"] = "dist/missing.zip"
    with pytest.raises(ConfigError, match=r"package\.artifact dist/missing\.zip"):
        Packager(config, tmp_path, tmp_path / "cache").packages()
    config["functions"]["c"]["package"]["artifact"] = "a.py"
    with pytest.raises(ConfigError, match="not a zip file"):
        Packager(config, tmp_path, tmp_path / "cache").packages()


def test_one_package_is_shared_when_not_individually(tmp_path: Path) -> None:
    config = service(tmp_path, {"a.py": "a"}, functions={"a": {"handler": "a.h"},
                                                          "b": {"handler": "a.g"}})  # fmt: skip
    packages = Packager(config, tmp_path, tmp_path / "cache").packages()
    assert packages["a"] is packages["b"]
    config["package"] = {"patterns": ["!**"]}
    with pytest.raises(ConfigError, match="the package is empty"):
        Packager(config, tmp_path, tmp_path / "cache").packages()


def wheel(directory: Path, name: str = "tinydep", version: str = "1.0") -> Path:
    """A pure-Python wheel, written by hand (a wheel is a zip with metadata)."""
    info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{name}-{version}.dist-info/RECORD,,")
    files[f"{name}-{version}.dist-info/RECORD"] = "\n".join(record) + "\n"
    out = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(out, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return out


@pytest.mark.parametrize("runtime", ["python3.11", "python3.12"])
def test_requirements_installed_with_pip_and_cached(
    tmp_path: Path, runtime: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel(wheels)
    monkeypatch.setenv("PIP_NO_INDEX", "1")  # offline: only the wheel made here
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    app = tmp_path / "app"
    app.mkdir()
    config = service(app, {"h.py": "x", "requirements.txt": "tinydep==1.0\n"},
                     provider={"runtime": runtime})  # fmt: skip
    lines: list[str] = []
    first = Packager(config, app, tmp_path / "cache", lines.append).packages()["f"]
    assert {"h.py", "tinydep/__init__.py", "requirements.txt"} <= names(first.data)
    assert lines == [f"installing requirements.txt for {runtime}"]

    def no_pip(*args: Any) -> None:
        raise AssertionError("pip ran again for the same requirements")

    monkeypatch.setattr(packaging, "_run", no_pip)
    again = Packager(config, app, tmp_path / "cache").packages()["f"]
    assert again.sha256 == first.sha256


def test_a_requirement_pip_cannot_find_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path))
    config = service(tmp_path, {"h.py": "x", "requirements.txt": "nosuchthing==9\n"})
    with pytest.raises(ConfigError, match=r"pip failed \(1\).*nosuchthing"):
        Packager(config, tmp_path, tmp_path / "cache").packages()
    assert not list((tmp_path / "cache" / "pip").glob("*/.complete"))


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_package_json_dependencies_installed_with_npm(tmp_path: Path) -> None:
    tiny = tmp_path / "tiny"
    tiny.mkdir()
    (tiny / "package.json").write_text(json.dumps({"name": "tiny", "version": "1.0.0",
                                                   "main": "index.js"}))  # fmt: skip
    (tiny / "index.js").write_text("module.exports = 42;\n")
    tarball = tmp_path / "tiny-1.0.0.tgz"
    with tarfile.open(tarball, "w:gz") as archive:
        archive.add(tiny, arcname="package")
    app = tmp_path / "app"
    app.mkdir()
    manifest = {"name": "app", "version": "1.0.0",
                "dependencies": {"tiny": f"file:{tarball}"},
                "devDependencies": {"devonly": "file:../nowhere"}}  # fmt: skip
    config = service(app, {"index.js": "x", "package.json": json.dumps(manifest)},
                     provider={"runtime": "nodejs20.x"})  # fmt: skip
    data = Packager(config, app, tmp_path / "cache").packages()["f"].data
    assert {"index.js", "node_modules/tiny/index.js", "node_modules/tiny/package.json"} <= \
        names(data)  # fmt: skip
    assert not any("devonly" in n for n in names(data))
    # With node_modules present, it is packaged as it is (the Framework's way): npm not run.
    (app / "node_modules" / "own").mkdir(parents=True)
    (app / "node_modules" / "own" / "index.js").write_text("1")
    data = Packager(config, app, tmp_path / "cache").packages()["f"].data
    assert "node_modules/own/index.js" in names(data)
    assert "node_modules/tiny/index.js" not in names(data)


def test_npm_is_not_run_for_a_manifest_without_dependencies(tmp_path: Path) -> None:
    config = service(tmp_path, {"index.js": "x", "package.json": '{"name": "a"}'},
                     provider={"runtime": "nodejs20.x"})  # fmt: skip
    data = Packager(config, tmp_path, tmp_path / "cache").packages()["f"].data
    assert names(data) == {"index.js", "package.json"}


def test_patterns_as_micromatch_reads_them(tmp_path: Path) -> None:
    paths = ["a.md", "b.txt", "c.py", "tests/t.py", "tests/deep/u.py", "src/[x].py", ".hidden"]
    assert select(paths, ["!**/*.{md,txt}"]) == ["c.py", "tests/t.py", "tests/deep/u.py",
                                                 "src/[x].py", ".hidden"]  # fmt: skip
    assert select(paths, ["!tests"]) == ["a.md", "b.txt", "c.py", "src/[x].py", ".hidden"]
    kept = ["a.md", "b.txt", "c.py", "tests/t.py", "tests/deep/u.py"]
    assert select(paths, ["!src/[[]x].py", "!.hidden"]) == kept


def test_broken_links_and_the_config_file_stay_out(tmp_path: Path) -> None:
    config = service(tmp_path, {"h.py": "x", "other.yml": "service: s"})
    (tmp_path / ".#h.py").symlink_to("user@host.1234:1")  # an editor's lock: a broken link
    data = Packager(config, tmp_path, tmp_path / "cache", config_name="other.yml").packages()
    assert names(data["f"].data) == {"h.py"}


def test_files_beside_the_service_through_parent_patterns(tmp_path: Path) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "util.py").write_text("u")
    (tmp_path / "shared" / "secret.txt").write_text("s")
    app = tmp_path / "svc"
    app.mkdir()
    config = service(app, {"h.py": "x"},
                     package={"patterns": ["../shared/**", "!../shared/*.txt"]})  # fmt: skip
    data = Packager(config, app, tmp_path / "cache").packages()["f"].data
    assert names(data) == {"h.py", "shared/util.py"}
    config["package"] = {"patterns": ["../*/**"]}
    with pytest.raises(ConfigError, match="name the directory"):
        Packager(config, app, tmp_path / "cache").packages()


def test_the_pip_cache_follows_included_requirement_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel(wheels, version="1.0")
    wheel(wheels, version="2.0")
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheels))
    app = tmp_path / "app"
    app.mkdir()
    config = service(app, {"h.py": "x", "requirements.txt": "-r base.txt\n",
                           "base.txt": "tinydep==1.0\n"})  # fmt: skip

    def installed() -> str:
        data = Packager(config, app, tmp_path / "cache").packages()["f"].data
        return zipfile.ZipFile(io.BytesIO(data)).read("tinydep/__init__.py").decode()

    assert installed() == "VERSION = '1.0'\n"
    (app / "base.txt").write_text("tinydep==2.0\n")
    assert installed() == "VERSION = '2.0'\n"


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_a_shipped_node_modules_leaves_dev_dependencies_out(tmp_path: Path) -> None:
    manifest = {"name": "app", "version": "1.0.0", "dependencies": {"lib": "1.0.0"},
                "devDependencies": {"jest": "1.0.0"}}  # fmt: skip
    files = {"index.js": "x", "package.json": json.dumps(manifest)}
    for name, deps in (("lib", {"@scope/inner": "1.0.0"}), ("jest", {}), ("@scope/inner", {})):
        files[f"node_modules/{name}/package.json"] = json.dumps(
            {"name": name, "version": "1.0.0", "dependencies": deps}
        )
        files[f"node_modules/{name}/index.js"] = "1"
    config = service(tmp_path, files, provider={"runtime": "nodejs20.x"})
    data = Packager(config, tmp_path, tmp_path / "cache").packages()["f"].data
    assert "node_modules/lib/index.js" in names(data)
    assert "node_modules/@scope/inner/index.js" in names(data)
    assert not any(n.startswith("node_modules/jest/") for n in names(data))
