"""Two processes on one store: what one writes, the other's read models learn from the change
feed (two SQLite connections to one file stand for the two processes)."""

from __future__ import annotations

from pathlib import Path

from firebox.control.changefeed import ChangeFeed
from firebox.control.events import AliasDeleted, FunctionDeleted, FunctionDeployed
from firebox.control.releases import AliasChange
from firebox.domain.arns import FunctionRef
from firebox.domain.functions import FunctionConfig
from firebox.storage import SqliteFunctionStore
from harness import ControlPlane, new_function, run, zip_of

F = FunctionRef("f")


def test_another_processs_writes_reach_this_ones_catalog(tmp_path: Path) -> None:
    db = tmp_path / "firebox.sqlite3"
    writer = ControlPlane(tmp_path, store=SqliteFunctionStore(db))
    reader = ControlPlane(tmp_path, store=SqliteFunctionStore(db))
    feed = ChangeFeed(reader.catalog, {kind: reader.catalog.refresh
                                       for kind in ("function", "version", "alias")})  # fmt: skip

    async def go() -> None:
        feed.seq = reader.store.last_change()
        await writer.functions.create(new_function("f"))
        assert await feed.poll() >= 1
        assert reader.catalog.get(F).timeout == 3  # created elsewhere, known here
        await writer.functions.update_configuration(F, FunctionConfig(timeout=30))
        await writer.releases.publish(F)
        await writer.releases.create_alias(F, "live", "1")
        await feed.poll()
        assert reader.catalog.get(F).timeout == 30
        assert reader.catalog.deployed(FunctionRef("f", "live")).record.version == "1"
        await writer.functions.update_code(F, zip_of("def handler(e, c):\n    return 2\n"))
        await writer.releases.publish(F)
        await writer.releases.update_alias(F, "live", AliasChange(function_version="2"))
        await writer.releases.delete_alias(F, "live")
        await writer.functions.delete(FunctionRef("f", "1"))
        await feed.poll()
        assert reader.catalog.alias("f", "live") is None
        assert reader.catalog.version("f", "1") is None and reader.catalog.version("f", "2")
        await writer.functions.delete(F)
        await feed.poll()
        assert reader.catalog.names() == []
        assert await feed.poll() == 0  # caught up

    run(go())
    kinds = [type(e).__name__ for e in reader.events]
    assert kinds.count("FunctionDeleted") == 1 and AliasDeleted("f", "live") in reader.events
    assert "VersionDeleted" in kinds
    deployed = [e.record.timeout for e in reader.events if isinstance(e, FunctionDeployed)]
    assert deployed[:2] == [3, 30]  # each change told once, in order
    assert FunctionDeleted("f") in reader.events


def test_this_processs_own_writes_tell_nothing_twice(tmp_path: Path) -> None:
    plane = ControlPlane(tmp_path, store=SqliteFunctionStore(tmp_path / "firebox.sqlite3"))
    feed = ChangeFeed(plane.catalog, {"function": plane.catalog.refresh})

    async def go() -> None:
        feed.seq = plane.store.last_change()
        await plane.functions.create(new_function("f"))
        told = len(plane.events)
        assert await feed.poll() == 1
        assert len(plane.events) == told  # the catalog had it already: nothing to tell

    run(go())
