"""Event invoke configs: retries, maximum event age and destinations per function qualifier."""

from __future__ import annotations

import enum
import time
from dataclasses import asdict, dataclass, replace

from firebox.control.catalog import Catalog
from firebox.domain import destinations
from firebox.domain.arns import FunctionRef
from firebox.domain.errors import (
    InvalidParameterValueException,
    ResourceNotFoundException,
    range_error,
)
from firebox.domain.records import LATEST
from firebox.storage.base import Change

DEFAULT_RETRIES, DEFAULT_MAX_AGE_S = 2, 21600


@dataclass(frozen=True)
class EventInvokeConfig:
    """What happens to a qualifier's Event invocations; None means Lambda's default."""

    function_name: str
    qualifier: str  # "$LATEST" for the unqualified function
    maximum_retry_attempts: int | None = None
    maximum_event_age: int | None = None
    on_success: str | None = None
    on_failure: str | None = None
    last_modified: float = 0.0

    @property
    def retries(self) -> int:
        return (
            DEFAULT_RETRIES if self.maximum_retry_attempts is None else self.maximum_retry_attempts
        )

    @property
    def max_age_s(self) -> int:
        return DEFAULT_MAX_AGE_S if self.maximum_event_age is None else self.maximum_event_age


class _Given(enum.Enum):
    NOT_GIVEN = "not given"


NOT_GIVEN = _Given.NOT_GIVEN


@dataclass(frozen=True)
class EventConfigChange:
    """Members of an event invoke config to set: a put resets those not given to Lambda's
    defaults, an update leaves them as they are. A destination of None removes it."""

    maximum_retry_attempts: int | _Given | None = NOT_GIVEN
    maximum_event_age: int | _Given | None = NOT_GIVEN
    on_success: str | _Given | None = NOT_GIVEN
    on_failure: str | _Given | None = NOT_GIVEN


class EventConfigs:
    """The Put/Update/Get/List/Delete FunctionEventInvokeConfig operations, cached in memory."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.store = catalog.store
        self.arns = catalog.arns
        self._configs: dict[tuple[str, str], EventInvokeConfig] = {}

    def load(self) -> None:
        for doc in self.store.event_configs():
            config = EventInvokeConfig(**doc)  # type: ignore[arg-type]
            self._configs[(config.function_name, config.qualifier)] = config

    def refresh(self, changes: list[Change]) -> None:
        """Reads its table again: another process changed it (the changes say so)."""
        self._configs.clear()
        self.load()

    def effective(self, function_name: str, qualifier: str | None) -> EventInvokeConfig:
        """The config an event of this qualifier runs under (Lambda's defaults if none)."""
        key = (function_name, qualifier or LATEST)
        return self._configs.get(key) or EventInvokeConfig(*key)

    def _target(self, ref: FunctionRef) -> tuple[str, str]:
        """Checks the function and qualifier exist; returns the config's key."""
        self.catalog.deployed(ref)
        return ref.name, ref.qualifier or LATEST

    def _apply(
        self, key: tuple[str, str], change: EventConfigChange, base: EventInvokeConfig
    ) -> EventInvokeConfig:
        changes: dict[str, object] = {}
        retries, age = change.maximum_retry_attempts, change.maximum_event_age
        if retries is not NOT_GIVEN:
            if retries is not None and not 0 <= retries <= 2:
                raise range_error(retries, "maximumRetryAttempts", 0, 2)
            changes["maximum_retry_attempts"] = retries
        if age is not NOT_GIVEN:
            if age is not None and not 60 <= age <= 21600:
                raise range_error(age, "maximumEventAgeInSeconds", 60, 21600)
            changes["maximum_event_age"] = age
        for field, target in (("on_success", change.on_success),
                              ("on_failure", change.on_failure)):  # fmt: skip
            if target is not NOT_GIVEN:
                changes[field] = self._destination(key, target) if target else None
        return replace(base, **changes, last_modified=time.time())  # type: ignore[arg-type]

    @staticmethod
    def _destination(key: tuple[str, str], arn: str) -> str:
        target = destinations.parse(arn, "destination")
        if isinstance(target, destinations.FunctionDestination) and target.name == key[0]:
            # Its own records would invoke it again, failing again: a loop without end.
            raise InvalidParameterValueException(
                "A function cannot be its own destination (that would invoke it in a loop)."
            )
        return arn

    def _save(self, config: EventInvokeConfig) -> EventInvokeConfig:
        self.store.put_event_config(config.function_name, config.qualifier, asdict(config))
        self._configs[(config.function_name, config.qualifier)] = config
        return config

    async def put(self, ref: FunctionRef, change: EventConfigChange) -> EventInvokeConfig:
        """Replaces the whole config: members left out go back to their defaults."""
        async with self.catalog.lock:
            key = self._target(ref)
            return self._save(self._apply(key, change, EventInvokeConfig(*key)))

    async def update(self, ref: FunctionRef, change: EventConfigChange) -> EventInvokeConfig:
        """Changes only the members given."""
        async with self.catalog.lock:
            key = self._target(ref)
            return self._save(self._apply(key, change, self.get(ref)))

    def get(self, ref: FunctionRef) -> EventInvokeConfig:
        key = self._target(ref)
        config = self._configs.get(key)
        if config is None:
            raise ResourceNotFoundException(
                f"The function {self.arns.function(*key)} doesn't have an EventInvokeConfig"
            )
        return config

    def list(self, ref: FunctionRef) -> list[EventInvokeConfig]:
        self.catalog.latest(FunctionRef(ref.name))
        return sorted((c for (n, _), c in self._configs.items() if n == ref.name),
                      key=lambda c: c.qualifier)  # fmt: skip

    async def delete(self, ref: FunctionRef) -> None:
        async with self.catalog.lock:
            self.get(ref)
            key = self._target(ref)
            self.store.delete_event_config(*key)
            self._configs.pop(key, None)

    def forget(self, function_name: str, qualifier: str | None) -> None:
        """A deleted function's (qualifier None), version's or alias's config goes with it."""
        for key in list(self._configs):
            if key[0] == function_name and qualifier in (None, key[1]):
                del self._configs[key]
                if qualifier is not None:
                    self.store.delete_event_config(*key)
