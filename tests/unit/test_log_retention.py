"""Log groups and retention in the log store: groups made and implied by events, retention
set and cleared, old events purged at a given time (injected: no waiting), groups deleted
with their events."""

from __future__ import annotations

from pathlib import Path

import pytest

from firebox.telemetry.logstore import DAY_MS, GroupExists, LogEvent, LogStore, NoSuchGroup

NOW = 1_800_000_000_000


@pytest.fixture
def store(tmp_path: Path) -> LogStore:
    return LogStore(tmp_path / "logs.sqlite3")


def events(group: str, *ages_days: float) -> list[LogEvent]:
    return [LogEvent(group, "s", int(NOW - age * DAY_MS), f"{group} {age}") for age in ages_days]


def test_groups_made_and_implied(store: LogStore) -> None:
    store.create_group("/made", NOW)
    store.append(events("/aws/lambda/f", 0))
    assert [(g.name, g.made) for g in store.log_groups()] == [("/aws/lambda/f", False),
                                                              ("/made", True)]  # fmt: skip
    with pytest.raises(GroupExists):
        store.create_group("/made", NOW)
    with pytest.raises(GroupExists):
        store.create_group("/aws/lambda/f", NOW)  # it has events: it exists
    with pytest.raises(NoSuchGroup):
        store.set_retention("/nowhere", 7)


def test_retention_purges_only_what_is_older(store: LogStore) -> None:
    store.append(events("/a", 0.5, 2, 10) + events("/b", 0.5, 2, 10))
    store.set_retention("/a", 1)
    assert store.log_group("/a").retention_days == 1
    assert store.purge(NOW) == 2
    assert [e.message for e in store.filter("/a").events] == ["/a 0.5"]
    assert len(store.filter("/b").events) == 3  # no retention: kept for ever
    store.set_retention("/a", None)
    store.append(events("/a", 30))
    assert store.purge(NOW) == 0 and store.log_group("/a").retention_days is None


def test_a_deleted_group_takes_its_events(store: LogStore, tmp_path: Path) -> None:
    store.create_group("/g", NOW)
    store.set_retention("/g", 7)
    store.append(events("/g", 0))
    store.delete_group("/g")
    assert store.filter("/g").events == [] and store.groups() == []
    with pytest.raises(NoSuchGroup):
        store.delete_group("/g")
    store.close()
    again = LogStore(tmp_path / "logs.sqlite3")  # and stays so after a restart
    assert again.groups() == []
    again.close()


def test_a_stack_takes_a_functions_group_only_its_lines_made(store: LogStore) -> None:
    """(A service deployed before stacks made log groups: its functions' groups exist, made by
    their lines; the deploy that adds the groups takes them. A group made on purpose is
    someone's: "already exists".)"""
    import asyncio
    from types import SimpleNamespace
    from typing import cast

    from firebox.domain.errors import LambdaError
    from firebox.stacks.kinds.base import Context, Props, Services
    from firebox.stacks.kinds.logs import LogGroup

    services = cast(
        Services,
        SimpleNamespace(
            logs=store, logs_changed=lambda: None, region="us-east-1", account="123456789012"
        ),
    )
    ctx = Context(services, "app", "http://h")
    store.append(events("/aws/lambda/app-dev-f", 0))
    made = asyncio.run(
        LogGroup().create(
            ctx,
            "FLogGroup",
            Props("FLogGroup", {"LogGroupName": "/aws/lambda/app-dev-f", "RetentionInDays": 7}),
        )
    )
    assert made.physical_id == "/aws/lambda/app-dev-f"
    assert store.log_group("/aws/lambda/app-dev-f").retention_days == 7
    store.create_group("/aws/lambda/theirs", NOW)
    with pytest.raises(LambdaError, match="already exists"):
        asyncio.run(LogGroup().create(ctx, "G", Props("G", {"LogGroupName": "/aws/lambda/theirs"})))
