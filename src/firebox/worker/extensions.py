"""The Lambda Extensions API of one environment: who registered for which events, who is
waiting for the next one, and who still works on the current one.

External extensions are the executables in /opt/extensions (started beside the runtime by
the sandbox; see sandboxes/launcher.start_extensions); internal ones register from the
runtime's own process. Init is complete once the runtime and every extension wait for their
next event; an invoke is complete once every extension registered for INVOKE waits again.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from firebox.worker.runtime_api import Responder, error_body

EVENTS = ("INVOKE", "SHUTDOWN")
SHUTDOWN_GRACE_S = 2.0  # what Lambda gives extensions after SHUTDOWN, with external ones
MAX_EXTENSIONS = 10  # per function, as on Lambda


class ExtensionError(Exception):
    """A call the Extensions API refuses: (status, errorType, message)."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error_type, self.message = status, error_type, message

    def body(self) -> bytes:
        return error_body(self.error_type, self.message)


def not_registered() -> ExtensionError:
    return ExtensionError(403, "Extension.InvalidExtensionId",
                          "Lambda-Extension-Identifier is not a registered extension")  # fmt: skip


def external_extensions(opt_dir: Path | None) -> list[str]:
    """The names of the executables in a function's /opt/extensions (its layers'), in order."""
    if opt_dir is None:
        return []
    folder = opt_dir / "extensions"
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return []
    # (symlinks are left out, here and by the sandbox: their targets resolve differently)
    return [e.name for e in entries
            if e.is_file(follow_symlinks=False) and os.access(e.path, os.X_OK)]  # fmt: skip


@dataclass
class Extension:
    """One registered extension."""

    id: str
    name: str
    events: frozenset[str]
    external: bool
    waiting: Responder | None = None  # its parked /event/next
    busy: bool = True  # working (init, or an event it was sent) until it asks for the next
    pending: list[bytes] = field(default_factory=list)  # events sent while it was not waiting


class Extensions:
    """The extensions of one environment."""

    def __init__(self, expected: list[str]) -> None:
        self.expected = expected  # external extensions that must register before init ends
        self.by_id: dict[str, Extension] = {}
        self.initialised = False  # init complete: no registration after it

    def __bool__(self) -> bool:
        return bool(self.by_id) or bool(self.expected)

    def register(self, name: str, body: bytes) -> Extension:
        if self.initialised:
            raise ExtensionError(403, "Extension.InvalidState",
                                 "Extensions can register only during the Init phase")  # fmt: skip
        if not name:
            raise ExtensionError(400, "InvalidRequest", "Lambda-Extension-Name is required")
        if len(self.by_id) >= MAX_EXTENSIONS:
            raise ExtensionError(
                400,
                "Extension.TooManyExtensions",
                f"A function can have at most {MAX_EXTENSIONS} extensions",
            )
        if any(e.name == name for e in self.by_id.values()):
            raise ExtensionError(409, "Extension.AlreadyRegistered",
                                 f"The extension {name} is registered already")  # fmt: skip
        try:
            events = json.loads(body or b"{}").get("events", [])
        except (ValueError, AttributeError):
            raise ExtensionError(400, "InvalidRequest", "The body must be a JSON object") from None
        if not isinstance(events, list) or any(e not in EVENTS for e in events):
            raise ExtensionError(400, "InvalidRequest",
                                 f"events must be a list of {', '.join(EVENTS)}")  # fmt: skip
        external = name in self.expected
        if not external and "SHUTDOWN" in events:
            raise ExtensionError(400, "Extension.InvalidEvent",
                                 "Internal extensions cannot register for SHUTDOWN")  # fmt: skip
        extension = Extension(uuid.uuid4().hex, name, frozenset(events), external)
        self.by_id[extension.id] = extension
        return extension

    def get(self, identifier: str | None) -> Extension:
        found = self.by_id.get(identifier or "")
        if found is None:
            raise not_registered()
        return found

    def wait(self, extension: Extension, responder: Responder) -> None:
        """It asks for its next event: one already sent, else it waits for one."""
        if extension.pending:  # busy again at once, with what it was sent meanwhile
            extension.busy = True
            self._send(extension, responder, extension.pending.pop(0))
        else:
            extension.busy = False
            extension.waiting = responder

    @property
    def ready(self) -> bool:
        """Every extension that must register did, and all of them wait."""
        registered = {e.name for e in self.by_id.values()}
        return all(n in registered for n in self.expected) and not any(
            e.busy for e in self.by_id.values()
        )

    @property
    def idle(self) -> bool:
        """No extension is still working on what it was sent."""
        return not any(e.busy for e in self.by_id.values())

    def send(self, kind: str, event: dict[str, object]) -> int:
        """Sends an event to those registered for it; returns how many."""
        payload = json.dumps({"eventType": kind, **event}).encode()
        sent = 0
        for extension in self.by_id.values():
            if kind not in extension.events:
                continue
            extension.busy = True
            sent += 1
            waiting, extension.waiting = extension.waiting, None
            if waiting is not None and waiting.open:
                self._send(extension, waiting, payload)
            else:
                extension.pending.append(payload)
        return sent

    @staticmethod
    def _send(extension: Extension, responder: Responder, payload: bytes) -> None:
        responder.send(200, payload, [(b"Lambda-Extension-Event-Identifier",
                                       uuid.uuid4().hex.encode())])  # fmt: skip

    def registered_for(self, kind: str) -> bool:
        return any(kind in e.events for e in self.by_id.values())
