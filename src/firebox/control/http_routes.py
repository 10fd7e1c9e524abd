"""HTTP API routes: `GET /items/{id}`, `ANY /{proxy+}`, `$default` → a function."""

from __future__ import annotations

import re
import secrets
from dataclasses import asdict, dataclass

from firebox.control.catalog import Catalog
from firebox.domain.arns import FunctionRef
from firebox.domain.errors import (
    InvalidParameterValueException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from firebox.storage.base import Change

METHODS = ("ANY", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
SEGMENT_RE = re.compile(r"^(\{[a-zA-Z0-9_.-]+\+?\}|[^{}]*)$")


@dataclass(frozen=True)
class Target:
    """What an event is built for: a route (with its key and path parameters) or a URL."""

    route_key: str = "$default"
    resource: str = "/{proxy+}"  # 1.0: the route's path template
    path_parameters: dict[str, str] | None = None
    api_id: str = ""
    stage: str = "$default"


@dataclass(frozen=True)
class HttpRoute:
    """One route: a method and path template (or $default), and the function it invokes."""

    id: str
    key: str  # "GET /items/{id}", "ANY /{proxy+}" or "$default"
    function_name: str
    qualifier: str | None = None
    payload_version: str = "2.0"

    @property
    def method(self) -> str:
        return self.key.split(" ", 1)[0] if self.key != "$default" else "ANY"

    @property
    def template(self) -> str:
        return self.key.split(" ", 1)[1] if self.key != "$default" else "/{proxy+}"

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """Path parameters if this route takes the request, else None."""
        if self.method not in ("ANY", method):
            return None
        wanted = [s for s in self.template.split("/") if s]
        given = [s for s in path.split("/") if s]
        params: dict[str, str] = {}
        for index, segment in enumerate(wanted):
            if segment.startswith("{") and segment.endswith("+}"):
                params[segment[1:-2]] = "/".join(given[index:])
                return params if index < len(given) or self.key == "$default" else None
            if index >= len(given):
                return None
            if segment.startswith("{"):
                params[segment[1:-1]] = given[index]
            elif segment != given[index]:
                return None
        return params if len(given) == len(wanted) else None

    @property
    def rank(self) -> tuple[int, int, int, int]:
        """Most specific first: literal segments, then parameters, greedy last, $default after."""
        segments = [s for s in self.template.split("/") if s]
        greedy = any(s.endswith("+}") for s in segments)
        literal = sum(1 for s in segments if not s.startswith("{"))
        return (self.key == "$default", greedy, -literal, self.method == "ANY")


def parse_key(key: object) -> str:
    if key == "$default":
        return "$default"
    if not isinstance(key, str) or " " not in key:
        raise InvalidParameterValueException(
            f"Invalid route key {key!r}: use 'METHOD /path' (e.g. 'GET /items/{{id}}') or $default."
        )
    method, path = key.split(" ", 1)
    method = method.upper()
    segments = path.split("/")
    if (
        method not in METHODS
        or not path.startswith("/")
        or not all(SEGMENT_RE.match(s) for s in segments)
    ):
        raise InvalidParameterValueException(
            f"Invalid route key {key!r}: the method must be one of {', '.join(METHODS)} and the "
            "path start with / with parameters as {name} and a last greedy {name+}."
        )
    greedy = [i for i, s in enumerate(segments) if s.endswith("+}")]
    if greedy and greedy != [len(segments) - 1]:
        raise InvalidParameterValueException("A greedy {name+} parameter must be last.")
    return f"{method} {path}"


class HttpRoutes:
    """The route table, durable in the function store, and request matching."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.store = catalog.store
        self._routes: dict[str, HttpRoute] = {}

    def load(self) -> None:
        for doc in self.store.routes():
            route = HttpRoute(**doc)  # type: ignore[arg-type]
            self._routes[route.id] = route

    def refresh(self, changes: list[Change]) -> None:
        """Reads its table again: another process changed it (the changes say so)."""
        self._routes.clear()
        self.load()

    def list(self) -> list[HttpRoute]:
        return sorted(self._routes.values(), key=lambda r: (r.rank, r.key))

    async def add(
        self,
        route_key: str,
        function_name: str,
        qualifier: str | None = None,
        payload_version: str = "2.0",
    ) -> HttpRoute:
        """A route: 'METHOD /path/{param}' (or $default) to a function, $LATEST or qualified."""
        key, name = parse_key(route_key), function_name
        if payload_version not in ("1.0", "2.0"):
            raise InvalidParameterValueException("PayloadFormatVersion must be 1.0 or 2.0.")
        async with self.catalog.lock:
            self.catalog.deployed(FunctionRef(name, qualifier))  # the target exists
            if any(r.key == key for r in self._routes.values()):
                raise ResourceConflictException(f"Route {key} exists already.")
            route = HttpRoute(secrets.token_hex(4), key, name, qualifier, payload_version)
            self.store.put_route(route.id, asdict(route))
            self._routes[route.id] = route
            return route

    async def remove(self, route_id: str) -> None:
        async with self.catalog.lock:
            if self._routes.pop(route_id, None) is None:
                raise ResourceNotFoundException(f"No route {route_id}.")
            self.store.delete_route(route_id)

    def forget(self, function_name: str, qualifier: str | None) -> None:
        """Routes to a deleted function (qualifier None), version or alias go with it: a
        function re-created under that name never receives their requests."""
        for route in list(self._routes.values()):
            if route.function_name == function_name and qualifier in (None, route.qualifier):
                del self._routes[route.id]
                self.store.delete_route(route.id)

    def match(self, method: str, path: str) -> tuple[HttpRoute, Target] | None:
        for route in self.list():
            params = route.match(method, path)
            if params is not None:
                if route.key == "$default":
                    params = {}  # the catch-all has no path parameters
                target = Target(
                    route_key=route.key, resource=route.template,
                    path_parameters=params or None, api_id="firebox",
                )  # fmt: skip
                return route, target
        return None
