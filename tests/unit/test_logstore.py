"""The log store answers a read with every line appended before it (read-your-writes)."""

from __future__ import annotations

from pathlib import Path

from firebox.telemetry.logstore import LogEvent, LogStore


def test_a_read_sees_every_line_appended_before_it(tmp_path: Path) -> None:
    store = LogStore(tmp_path / "logs.sqlite")
    try:
        for i in range(200):  # the writer thread lags; each read must still see its line
            store.append([LogEvent("/aws/lambda/f", "s", 1000 + i, f"line {i}")])
            assert store.filter("/aws/lambda/f").events[-1].message == f"line {i}"
            store.append([LogEvent(f"/aws/lambda/g{i}", "s", 1000, "x")])
            assert f"/aws/lambda/g{i}" in store.groups()
    finally:
        store.close()
