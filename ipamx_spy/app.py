"""The built-in plugin as a sans-IO application: (endpoint, body bytes) -> Reply.

Services (the reference allocator, the reference network driver) register plain functions
``request JSON -> response JSON`` keyed by the rows they answer (``dockerd.Endpoint`` members,
and ``dockerd.SpyCall`` for ipamx-spy's own calls). A service claims every row of its
interface; ``BuiltinPlugin`` refuses to start (``LookupError``) when a claimed row has no route
or a route has no row, so a new endpoint is one row plus one handler and nothing else. It then
resolves an incoming path with one dict lookup.

This module owns what is common to all services: decoding the body the way Go does (keys
matched case-insensitively to the endpoint rows' field names), refusing an empty body where
arguments are required (PROTOCOL.md 1.6: that is dockerd's retry after a dropped connection,
never a real request), carrying errors in the field the protocol expects (``Error`` for IPAM,
``Err`` for the network driver and for transport-level refusals), and counting calls and errors
from what the dispatch knows (a ``PluginError``, a refusal of the body), never by reading the
answer again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from . import dockerd
from .dockerd import Endpoint, SpyCall
from .dockerd.gotypes import FieldNames
from .faults import Injection
from .recording import go_json

CONTENT_TYPE = "application/vnd.docker.plugins.v1.2+json"

JSON = Any
Route = Callable[[dict[str, JSON]], JSON]
Call = Endpoint | SpyCall
"""A row a service answers: one of dockerd's calls, or one of ipamx-spy's own."""
K = TypeVar("K", bound=Call)
T = TypeVar("T")


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
    """What a built-in service offers: an interface name for Activate and its routes, one per
    row it claims (``claimed_calls``: every dockerd row of the interface, and ipamx-spy's own
    calls of it when the service sets ``spy_calls = True``). A service may also set
    ``blocking = True`` (its calls run off the event loop) and have a ``close()``."""

    @property
    def interface(self) -> str: ...

    def routes(self) -> Mapping[Call, Route]: ...


class PluginApp(Protocol):
    def handle(self, endpoint: str, body: bytes) -> Reply: ...

    def blocking(self, endpoint: str) -> bool: ...


def claimed_calls(interface: str, *, spy_calls: bool = False) -> tuple[Call, ...]:
    """The rows a service of ``interface`` answers: dockerd's rows of that interface (dockerd
    may call any of them; ``Plugin.Activate`` is the plugin's, not a service's), then with
    ``spy_calls`` ipamx-spy's own calls of it."""
    ours: tuple[Call, ...] = tuple(e for e in Endpoint
                                   if e.interface == interface and e is not Endpoint.ACTIVATE)
    return ours + tuple(c for c in SpyCall if spy_calls and c.interface == interface)


def check_table(interface: str, table: Mapping[K, T], *,
                spy_calls: bool = False) -> dict[K, T]:
    """``table`` (a handler per row) when it has exactly the rows claimed (``claimed_calls``),
    in row order. Raises LookupError naming the rows without a handler and the handlers
    without a row: a service that raises it is incomplete and must not start."""
    claimed = claimed_calls(interface, spy_calls=spy_calls)
    missing = [str(c) for c in claimed if c not in table]
    stray = [str(c) for c in table if c not in claimed or not isinstance(c, Endpoint | SpyCall)]
    if missing or stray:
        raise LookupError(f"{interface} service: " + "; ".join(
            part for part in (_listed("rows without a handler", missing),
                              _listed("handlers without a row", stray)) if part))
    return {c: table[c] for c in sorted(table, key=claimed.index)}


def _listed(what: str, names: list[str]) -> str:
    return f"{what}: {', '.join(names)}" if names else ""


def normalise_keys(value: JSON, fields: tuple[dockerd.Field, ...]) -> JSON:
    """Rename keys to the row's field Go's decoder stores them in (``gotypes.FieldNames``)."""
    if not isinstance(value, dict) or not fields:
        return value
    return FieldNames(f.name for f in fields).rename(value)


@dataclass(frozen=True, slots=True)
class _Entry:
    """What the dispatch needs about one served path, worked out once at construction."""

    name: str
    route: Route
    blocking: bool
    takes_body: bool
    error_key: str
    names: FieldNames | None  # the request's Go field names (None: the row has no request)


@dataclass
class BuiltinPlugin:
    """The plugin ipamx-spy serves itself: any combination of built-in services.

    Raises LookupError when a service's routes do not match the rows of its interface
    (``check_table``) or two services answer one row."""

    services: list[Service]
    calls: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        activate = _entry(Endpoint.ACTIVATE, lambda _request: {"Implements": self.implements},
                          blocking=False)
        self._entries: dict[str, _Entry] = {activate.name: activate}
        for service in self.services:
            blocking = bool(getattr(service, "blocking", False))
            table = check_table(service.interface, service.routes(),
                                spy_calls=bool(getattr(service, "spy_calls", False)))
            for call, route in table.items():
                if call.value in self._entries:
                    raise LookupError(f"{call} is answered by two services")
                self._entries[call.value] = _entry(call, route, blocking=blocking)

    def blocking(self, endpoint: str) -> bool:
        """True when the endpoint may take long (kernel work): run it off the event loop."""
        entry = self._entries.get(endpoint)
        return entry is not None and entry.blocking

    def close(self) -> None:
        """Release what the services hold (state files); call once when serving ends."""
        for service in self.services:
            close = getattr(service, "close", None)
            if close is not None:
                close()

    @property
    def implements(self) -> list[str]:
        return [s.interface for s in self.services]

    @property
    def paths(self) -> tuple[str, ...]:
        """Every endpoint name this plugin answers (``Plugin.Activate`` first)."""
        return tuple(self._entries)

    def handle(self, endpoint: str, body: bytes) -> Reply:
        self.calls[endpoint] = self.calls.get(endpoint, 0) + 1
        reply, failed = self._dispatch(endpoint, body)
        if failed:
            self.errors[endpoint] = self.errors.get(endpoint, 0) + 1
        return reply

    def _dispatch(self, endpoint: str, body: bytes) -> tuple[Reply, bool]:
        """The reply, and whether it tells dockerd the call failed."""
        entry = self._entries.get(endpoint)
        if entry is None:
            return Reply.json(404, {"Err": f"ipamx-spy: {endpoint} is not served by this "
                                           "plugin"}), True
        request = _decode(entry, body)
        if isinstance(request, Reply):
            return request, True
        try:
            return Reply.json(200, entry.route(request)), False
        except PluginError as exc:
            if exc.status != 200:
                return Reply.json(exc.status, {"Err": exc.message}), True
            return Reply.json(200, {entry.error_key: exc.message}), True


def _entry(call: Call, route: Route, *, blocking: bool) -> _Entry:
    row = dockerd.ROW[call] if isinstance(call, Endpoint) else dockerd.SPY_ROW[call]
    return _Entry(name=call.value, route=route, blocking=blocking, takes_body=row.takes_body,
                  error_key=row.error_field,
                  names=FieldNames(f.name for f in row.request) if row.request else None)


def _decode(entry: _Entry, body: bytes) -> dict[str, JSON] | Reply:
    """The request object with its keys matched to the row's fields, or the 400 refusal."""
    if not body.strip():
        if entry.takes_body:
            return Reply.json(400, {"Err": "ipamx-spy: empty request body where arguments are "
                                    "required (dockerd re-sends an empty body after a dropped "
                                    "connection; refusing rather than guessing)"})
        return {}
    try:
        value = json.loads(body)
    except ValueError as exc:
        return Reply.json(400, {"Err": f"ipamx-spy: request body is not JSON: {exc}"})
    if value is None:
        return {}
    if not isinstance(value, dict):
        return Reply.json(400, {"Err": "ipamx-spy: request body must be a JSON object"})
    if entry.names is None:
        return value
    return entry.names.rename(value)
