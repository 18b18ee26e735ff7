"""The built-in plugin as a sans-IO application: (endpoint, body bytes) -> Reply.

Services (the reference allocator, the reference network driver) register plain functions
``request JSON -> response JSON`` per endpoint. This module owns what is common to all of them:
decoding the body the way Go does (keys matched case-insensitively to the endpoint rows' field
names), refusing an empty body where arguments are required (PROTOCOL.md 1.6: that is dockerd's
retry after a dropped connection, never a real request), and carrying errors in the field the
protocol expects (``Error`` for IPAM, ``Err`` for the network driver and for transport-level
refusals).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from . import dockerd
from .dockerd import Endpoint
from .faults import Injection
from .recording import go_json

CONTENT_TYPE = "application/vnd.docker.plugins.v1.2+json"

JSON = Any
Route = Callable[[dict[str, JSON]], JSON]


class PluginError(Exception):
    """A refusal a route returns to dockerd (carried in ``Error`` or ``Err``, status 200).

    ``status`` other than 200 sends the message as ``{"Err": ...}`` with that status instead.
    """

    def __init__(self, message: str, *, status: int = 200) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True, kw_only=True)
class Reply:
    status: int
    body: bytes
    content_type: str | None = CONTENT_TYPE
    injection: Injection | None = None
    """Set by the mock to reproduce a recorded hang-up or stall (``ipamx_spy.faults``)."""

    @classmethod
    def json(cls, status: int, value: JSON) -> Reply:
        return cls(status=status, body=(go_json(value) + "\n").encode("utf-8"))

    @property
    def value(self) -> JSON:
        return json.loads(self.body) if self.body else None


class Service(Protocol):
    """What a built-in service offers: an interface name for Activate and its routes."""

    interface: str

    def routes(self) -> Mapping[str, Route]: ...


class PluginApp(Protocol):
    def handle(self, endpoint: str, body: bytes) -> Reply: ...

    def blocking(self, endpoint: str) -> bool: ...


def normalise_keys(value: JSON, fields: tuple[dockerd.Field, ...]) -> JSON:
    """Rename keys that match a row's field case-insensitively (Go's decoder rule)."""
    if not isinstance(value, dict) or not fields:
        return value
    canonical = {f.name.lower(): f.name for f in fields}
    return {canonical.get(k.lower(), k): v for k, v in value.items()}


@dataclass
class BuiltinPlugin:
    """The plugin ipamx-spy serves itself: any combination of built-in services."""

    services: list[Service]
    calls: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._routes: dict[str, Route] = {}
        self._blocking: set[str] = set()
        for service in self.services:
            routes = service.routes()
            self._routes.update(routes)
            if getattr(service, "blocking", False):
                self._blocking.update(routes)

    def blocking(self, endpoint: str) -> bool:
        """True when the endpoint may take long (kernel work): run it off the event loop."""
        return endpoint in self._blocking

    def close(self) -> None:
        """Release what the services hold (state files); call once when serving ends."""
        for service in self.services:
            close = getattr(service, "close", None)
            if close is not None:
                close()

    @property
    def implements(self) -> list[str]:
        return [s.interface for s in self.services]

    def handle(self, endpoint: str, body: bytes) -> Reply:
        self.calls[endpoint] = self.calls.get(endpoint, 0) + 1
        reply = self._dispatch(endpoint, body)
        if reply.status != 200 or _carries_error(endpoint, reply):
            self.errors[endpoint] = self.errors.get(endpoint, 0) + 1
        return reply

    def _dispatch(self, endpoint: str, body: bytes) -> Reply:
        if endpoint == Endpoint.ACTIVATE:
            return Reply.json(200, {"Implements": self.implements})
        route = self._routes.get(endpoint)
        if route is None:
            return Reply.json(404, {"Err": f"ipamx-spy: {endpoint} is not served by this plugin"})
        row = dockerd.ANY_BY_NAME.get(endpoint)
        request = self._decode(row, body)
        if isinstance(request, Reply):
            return request
        error_key = row.error_field if row is not None else "Err"
        try:
            return Reply.json(200, route(request))
        except PluginError as exc:
            if exc.status != 200:
                return Reply.json(exc.status, {"Err": exc.message})
            return Reply.json(200, {error_key: exc.message})

    @staticmethod
    def _decode(row: dockerd.AnyRow | None, body: bytes) -> dict[str, JSON] | Reply:
        takes_body = row is not None and row.takes_body
        if not body.strip():
            if takes_body:
                return Reply.json(400, {"Err": "ipamx-spy: empty request body where arguments are "
                                        "required (dockerd re-sends an empty body after a dropped "
                                        "connection; refusing rather than guessing)"})
            return {}
        try:
            value = json.loads(body)
        except ValueError as exc:
            return Reply.json(400, {"Err": f"ipamx-spy: request body is not JSON: {exc}"})
        if value is None:
            value = {}
        if not isinstance(value, dict):
            return Reply.json(400, {"Err": "ipamx-spy: request body must be a JSON object"})
        return normalise_keys(value, row.request if row is not None else ())  # type: ignore[no-any-return]


def _carries_error(endpoint: str, reply: Reply) -> bool:
    try:
        value = reply.value
    except ValueError:
        return True
    return dockerd.error_message(endpoint, reply.status, value) is not None
