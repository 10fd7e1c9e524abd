"""Function URLs: the Create/Get/Update/Delete/ListFunctionUrlConfig(s) operations."""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace

from firebox.control.catalog import Catalog
from firebox.domain.arns import FunctionRef
from firebox.domain.errors import (
    ConstraintError,
    InvalidParameterValueException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from firebox.domain.records import LATEST
from firebox.storage.base import Change

CORS_MEMBERS = ("AllowCredentials", "AllowHeaders", "AllowMethods", "AllowOrigins",
                "ExposeHeaders", "MaxAge")  # fmt: skip


@dataclass(frozen=True)
class FunctionUrl:
    """A URL that invokes a function ($LATEST or an alias) with each HTTP request."""

    function_name: str
    qualifier: str
    url_id: str
    auth_type: str = "NONE"
    cors: dict[str, object] = field(default_factory=dict)
    invoke_mode: str = "BUFFERED"
    created: float = 0.0
    modified: float = 0.0


def _cors(value: object) -> dict[str, object]:
    if value is None:
        return {}
    if not isinstance(value, dict) or any(k not in CORS_MEMBERS for k in value):
        raise InvalidParameterValueException(f"Cors may only have {', '.join(CORS_MEMBERS)}.")
    for key, item in value.items():
        # Stored as given and read by every request to the URL: a wrong type would break them.
        kind = bool if key == "AllowCredentials" else int if key == "MaxAge" else list
        if item is not None and (
            type(item) is not kind
            or (isinstance(item, list) and not all(type(x) is str for x in item))
        ):
            expected = {bool: "a boolean", int: "a number"}.get(kind, "a list of strings")
            raise InvalidParameterValueException(f"Cors.{key} must be {expected}.")
    max_age = value.get("MaxAge")
    if max_age is not None and not 0 <= max_age <= 86400:
        raise InvalidParameterValueException("Cors.MaxAge must be from 0 to 86400.")
    return dict(value)


def _auth(value: object) -> str:
    if value in ("NONE", "AWS_IAM"):
        return str(value)
    raise ConstraintError(value, "authType", "Member must satisfy enum value set: [AWS_IAM, NONE]")


def _mode(value: object) -> str:
    if value in (None, "BUFFERED", "RESPONSE_STREAM"):
        return str(value or "BUFFERED")
    raise ConstraintError(
        value, "invokeMode", "Member must satisfy enum value set: [BUFFERED, RESPONSE_STREAM]"
    )


class FunctionUrls:
    """URL configs per function and qualifier, looked up by their URL id when requests come."""

    def __init__(self, catalog: Catalog, url_format: str) -> None:
        self.catalog = catalog
        self.store = catalog.store
        self.url_format = url_format  # e.g. "http://{id}.lambda-url.us-east-1.localhost:8070/"
        self._by_id: dict[str, FunctionUrl] = {}

    def load(self) -> None:
        for doc in self.store.function_urls():
            url = FunctionUrl(**doc)  # type: ignore[arg-type]
            self._by_id[url.url_id] = url

    def refresh(self, changes: list[Change]) -> None:
        """Reads its table again: another process changed it (the changes say so)."""
        self._by_id.clear()
        self.load()

    def url(self, config: FunctionUrl) -> str:
        return self.url_format.format(id=config.url_id)

    def lookup(self, url_id: str) -> FunctionUrl | None:
        return self._by_id.get(url_id)

    def _key(self, ref: FunctionRef) -> tuple[str, str]:
        qualifier = ref.qualifier or LATEST
        if qualifier != LATEST and qualifier.isdigit():
            raise InvalidParameterValueException(
                "Function URLs can point at $LATEST or an alias, not a version number."
            )
        self.catalog.deployed(FunctionRef(ref.name, qualifier))  # exists
        return ref.name, qualifier

    def _find(self, key: tuple[str, str]) -> FunctionUrl | None:
        return next((u for u in self._by_id.values()
                     if (u.function_name, u.qualifier) == key), None)  # fmt: skip

    async def create(
        self,
        ref: FunctionRef,
        auth_type: str = "NONE",
        cors: Mapping[str, object] | None = None,
        invoke_mode: str = "BUFFERED",
    ) -> FunctionUrl:
        """A URL for $LATEST or an alias; cors in the Cors shape of the Lambda API."""
        async with self.catalog.lock:
            key = self._key(ref)
            if self._find(key) is not None:
                raise ResourceConflictException(
                    "Failed to create function url config for [functionArn = "
                    f"{self.catalog.arns.function(*key)}]. Error message:  FunctionUrlConfig "
                    "exists for this Lambda function"
                )
            alphabet = string.ascii_lowercase + string.digits
            now = time.time()
            config = FunctionUrl(
                *key, "".join(secrets.choice(alphabet) for _ in range(32)),
                _auth(auth_type), _cors(cors), _mode(invoke_mode), now, now,
            )  # fmt: skip
            return self._save(config)

    def get(self, ref: FunctionRef) -> FunctionUrl:
        key = self._key(ref)
        config = self._find(key)
        if config is None:
            raise ResourceNotFoundException("The resource you requested does not exist.")
        return config

    async def update(
        self,
        ref: FunctionRef,
        auth_type: str | None = None,
        cors: Mapping[str, object] | None = None,
        invoke_mode: str | None = None,
    ) -> FunctionUrl:
        """Changes the members given (None: as it is; cors {} removes CORS)."""
        async with self.catalog.lock:
            old = self.get(ref)
            changes: dict[str, object] = {"modified": time.time()}
            if auth_type is not None:
                changes["auth_type"] = _auth(auth_type)
            if cors is not None:
                changes["cors"] = _cors(cors)
            if invoke_mode is not None:
                changes["invoke_mode"] = _mode(invoke_mode)
            return self._save(replace(old, **changes))  # type: ignore[arg-type]

    async def delete(self, ref: FunctionRef) -> None:
        async with self.catalog.lock:
            config = self.get(ref)
            self.store.delete_function_url(config.url_id)
            self._by_id.pop(config.url_id, None)

    def list(self, ref: FunctionRef) -> list[FunctionUrl]:
        self.catalog.latest(FunctionRef(ref.name))
        return sorted((u for u in self._by_id.values() if u.function_name == ref.name),
                      key=lambda u: u.qualifier)  # fmt: skip

    def _save(self, config: FunctionUrl) -> FunctionUrl:
        self.store.put_function_url(config.url_id, config.function_name, asdict(config))
        self._by_id[config.url_id] = config
        return config

    def forget(self, function_name: str, qualifier: str | None) -> None:
        """A deleted function's (qualifier None), version's or alias's URL goes with it."""
        for url in list(self._by_id.values()):
            if url.function_name == function_name and qualifier in (None, url.qualifier):
                del self._by_id[url.url_id]
                if qualifier is not None:
                    self.store.delete_function_url(url.url_id)
