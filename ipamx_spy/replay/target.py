"""Replay targets: where recorded requests go (a plugin socket, or a plugin app in-process).

A ``TargetSpec`` says how to reach the plugin; ``open()`` gives a fresh ``ReplayTarget`` for one
recording: a new in-process app (its state starts empty), or new connections to the socket
(the plugin keeps its state across recordings). A target carries one connection per recorded
``conn``, so requests travel on the connections they were recorded on.
"""

from __future__ import annotations

import functools
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ipamx_spy import address as addresses
from ipamx_spy.app import PluginApp
from ipamx_spy.builtin import BuiltinConfig, NetworkLinks
from ipamx_spy.dockerd import Endpoint
from ipamx_spy.noanswer import NoAnswerKind
from ipamx_spy.recording import Message, Recording, made

from .bindings import request_bytes
from .compare import Live

if TYPE_CHECKING:  # the socket client (h11) is imported when a socket target is used
    from ipamx_spy.client import PluginConnection, PluginNoAnswer

DEFAULT_TIMEOUT = 30.0


class ReplayUnusable(ValueError):
    """The target or a recording cannot be used at all (exit code 2); the text says why."""


class ReplayNoAnswer(Exception):
    """The target gave no usable answer to one request; ``kind`` says why."""

    def __init__(self, kind: NoAnswerKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True, kw_only=True)
class Outgoing:
    """One request as replay sends it: ``body`` is all an in-process app is given; ``raw``,
    the whole request a socket is sent, is made the first time it is asked for."""

    conn: int
    endpoint: str
    method: str
    body: bytes
    recorded: Message
    """The recorded request: ``raw`` keeps its start line and headers (``request_bytes``)."""

    @functools.cached_property
    def raw(self) -> bytes:
        return request_bytes(self.recorded, self.body)


class ReplayTarget(Protocol):
    label: str

    def exchange(self, request: Outgoing) -> Live:
        """Send one request; raises ReplayNoAnswer when no answer comes back."""
        ...

    def restart(self) -> str:
        """dockerd restarted here in the recording: drop connections (and the plugin's
        in-process state, where there is one). Returns what was done, in words."""
        ...

    def close(self) -> None: ...


def _close_app(app: PluginApp) -> None:
    close = getattr(app, "close", None)
    if callable(close):
        close()


@dataclass
class ReplayAppTarget:
    """A sans-IO plugin app called in-process (no sockets, no timeout).

    ``restart()`` replaces the app with a fresh one from ``factory``, as a plugin process that
    restarted (its state file, if any, is read again).
    """

    factory: Callable[[], PluginApp]
    label: str = "in-process"
    cleanup: Callable[[], None] | None = None
    app: PluginApp = field(init=False)

    def __post_init__(self) -> None:
        self.app = self.factory()

    def exchange(self, request: Outgoing) -> Live:
        try:
            reply = self.app.handle(request.endpoint, request.body)
        except Exception as exc:  # the app's bug is a finding, not a replay crash
            raise ReplayNoAnswer(NoAnswerKind.CRASH,
                                 f"the in-process plugin raised {exc!r}") from exc
        # set without the generated __init__ (``recording.made``): one per exchange
        return made(Live, status=reply.status, body=reply.body,
                    content_type=reply.content_type, elapsed_ms=0.0)

    def restart(self) -> str:
        _close_app(self.app)
        self.app = self.factory()
        return "the in-process plugin restarted too"

    def close(self) -> None:
        _close_app(self.app)
        if self.cleanup is not None:
            self.cleanup()


@dataclass
class ReplaySocketTarget:
    """A plugin on a Unix or TCP socket, one keep-alive connection per recorded ``conn``."""

    address: addresses.Address
    timeout: float | None
    label: str = ""
    connections: dict[int, PluginConnection] = field(default_factory=dict)

    def exchange(self, request: Outgoing) -> Live:
        from ipamx_spy.client import PluginConnection, PluginNoAnswer, PluginProtocolError

        connection = self.connections.get(request.conn)
        if connection is None:
            connection = PluginConnection(self.address, timeout=self.timeout)
            self.connections[request.conn] = connection
        try:
            message, elapsed = connection.call(request.raw, request.method)
        except PluginProtocolError as exc:
            raise ReplayNoAnswer(NoAnswerKind.MALFORMED,
                                 f"the plugin's answer is not HTTP/1.1: {exc}") from exc
        except PluginNoAnswer as exc:
            raise _no_answer(exc, self.timeout) from exc
        return Live(status=message.status, body=message.body,
                    content_type=message.header("Content-Type"), elapsed_ms=elapsed)

    def restart(self) -> str:
        self.close()
        return "new connections (the plugin itself keeps running)"

    def close(self) -> None:
        for connection in self.connections.values():
            connection.close()
        self.connections.clear()


def _no_answer(exc: PluginNoAnswer, timeout: float | None) -> ReplayNoAnswer:
    if exc.kind is NoAnswerKind.TIMEOUT:
        return ReplayNoAnswer(exc.kind, f"no answer within {timeout:g} s (--timeout): the "
                              "plugin stalls, and dockerd has no timeout for plugin calls")
    if exc.kind is NoAnswerKind.CLOSED:
        return ReplayNoAnswer(exc.kind, "the plugin closed the connection without answering "
                              "(dockerd retries after 1 s with an empty body, PROTOCOL.md 1.6)")
    return ReplayNoAnswer(exc.kind, f"the plugin cannot be reached: {exc}")


class BuiltinState(StrEnum):
    """Where the in-process built-in plugin keeps its state during a replay."""

    AUTO = "auto"  # what the recorded plugin said (RequiresRequestReplay)
    NONE = "none"  # in memory: it answers RequiresRequestReplay true
    TEMP = "temp"  # a fresh state file per recording: false

    @classmethod
    def parse(cls, word: str) -> BuiltinState:
        """The mode a word names; ReplayUnusable for any other word."""
        try:
            return cls(word)
        except ValueError:
            raise ReplayUnusable(f"target state {word!r}: use one of "
                                 f"{', '.join(m.value for m in cls)}") from None


@dataclass(frozen=True, kw_only=True)
class TargetSpec:
    """How to reach the plugin under test; ``open()`` once per recording.

    Exactly one of ``address`` (a socket), ``builtin`` (the reference plugin, in-process) or
    ``app_factory`` (any sans-IO plugin app, in-process). ``state`` applies to the built-in:
    ``none`` keeps it in memory (it answers RequiresRequestReplay: true), ``temp`` gives it a
    fresh state file per recording (false), ``auto`` picks what the recorded plugin said.
    With ``auto_driver`` the built-in also serves its network driver when the recorded plugin
    implemented ``NetworkDriver``; in replay that driver only pretends to create links.
    """

    label: str
    address: addresses.Address | None = None
    builtin: BuiltinConfig | None = None
    state: BuiltinState = BuiltinState.AUTO
    auto_driver: bool = True
    app_factory: Callable[[], PluginApp] | None = None
    timeout: float | None = DEFAULT_TIMEOUT

    def open(self, recording: Recording | None = None) -> ReplayTarget:
        """A fresh target. Raises ReplayUnusable when the plugin cannot be reached or built."""
        if self.app_factory is not None:
            return ReplayAppTarget(factory=self.app_factory, label=self.label)
        if self.builtin is not None:
            return _open_builtin(self.builtin, self.state, recording, self.auto_driver)
        assert self.address is not None
        from ipamx_spy.client import PluginNoAnswer, dial

        try:
            dial(self.address, self.timeout).close()
        except PluginNoAnswer as exc:
            raise ReplayUnusable(f"target {self.label}: {exc}") from exc
        return ReplaySocketTarget(address=self.address, timeout=self.timeout, label=self.label)


def recorded_keeps_state(recording: Recording | None) -> bool:
    """Whether the recorded allocator said it keeps its own state (RequiresRequestReplay
    false in its first successful IpamDriver.GetCapabilities answer)."""
    for exchange in recording.exchanges if recording is not None else ():
        response = exchange.response
        if (exchange.endpoint == Endpoint.IPAM_GET_CAPABILITIES and response is not None
                and response.status == 200 and isinstance(response.value, dict)):
            return response.value.get("RequiresRequestReplay") is False
    return False


def recorded_interfaces(recording: Recording | None) -> list[str]:
    """What the recorded plugin said it implements (its first successful activation). A
    managed plugin is never activated (dockerd reads its manifest): then the interfaces that
    the recorded calls went to."""
    exchanges = recording.exchanges if recording is not None else ()
    for exchange in exchanges:
        response = exchange.response
        if (exchange.endpoint == Endpoint.ACTIVATE and response is not None
                and response.status == 200 and isinstance(response.value, dict)):
            implements = response.value.get("Implements") or []
            return [str(i) for i in implements] if isinstance(implements, list) else []
    called = {e.endpoint.partition(".")[0] for e in exchanges}
    return sorted(called & {"IpamDriver", "NetworkDriver"})


def _open_builtin(config: BuiltinConfig, state: BuiltinState, recording: Recording | None,
                  auto_driver: bool) -> ReplayAppTarget:
    if state is BuiltinState.AUTO:
        state = BuiltinState.TEMP if recorded_keeps_state(recording) else BuiltinState.NONE
    if auto_driver and "NetworkDriver" in recorded_interfaces(recording):
        config = replace(config, network_driver=True)
    config = replace(config, network_links=NetworkLinks.MEMORY)  # never the host's interfaces
    cleanup = None
    if state is BuiltinState.TEMP:
        directory = Path(tempfile.mkdtemp(prefix="ipx-replay-"))
        config = replace(config, state=directory / "state.json",
                         network_state=directory / "network.json")
        cleanup = functools.partial(shutil.rmtree, directory, ignore_errors=True)
    driver = ", network driver with pretend links" if config.network_driver else ""
    kept = "a fresh state file" if state is BuiltinState.TEMP else "state in memory"
    label = f"builtin (in-process, --docker-compat {config.compat}, {kept}{driver})"
    try:
        from ipamx_spy.builtin import make_plugin

        return ReplayAppTarget(factory=lambda: make_plugin(config), label=label, cleanup=cleanup)
    except (ImportError, ValueError, OSError, RuntimeError) as exc:
        if cleanup is not None:
            cleanup()
        raise ReplayUnusable(f"the built-in reference plugin cannot start: {exc}") from exc


_TRUE = {"1", "true", "yes", "on"}
_BUILTIN_KEYS = {"compat": "compat", "docker-compat": "compat", "local-space": "local_space",
                 "local_space": "local_space", "global-space": "global_space",
                 "global_space": "global_space", "network-driver": "network_driver",
                 "network_driver": "network_driver", "state": "state", "name": "name"}


def _builtin_settings(text: str, config: BuiltinConfig,
                      state: BuiltinState) -> tuple[BuiltinConfig, BuiltinState, bool]:
    """Apply ``KEY=VALUE,...`` from ``builtin:KEY=VALUE,...`` to the defaults."""
    changes: dict[str, str | bool] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        key, sep, value = item.partition("=")
        field_name = _BUILTIN_KEYS.get(key.strip())
        if not sep or field_name is None:
            raise ReplayUnusable(f"target builtin:{text}: {item!r} is not one of "
                                 f"{', '.join(sorted(set(_BUILTIN_KEYS.values())))}=VALUE")
        if field_name == "state":
            state = BuiltinState.parse(value.strip())
        else:
            changes[field_name] = (value.strip().lower() in _TRUE
                                   if field_name == "network_driver" else value.strip())
    auto_driver = "network_driver" not in changes and not config.network_driver
    try:
        return replace(config, **changes), state, auto_driver  # type: ignore[arg-type]
    except ValueError as exc:  # a compat that names no Docker version
        raise ReplayUnusable(f"target builtin:{text}: {exc}") from exc


def parse_target(text: str | None, *, config: BuiltinConfig | None = None,
                 state: BuiltinState = BuiltinState.AUTO,
                 timeout: float | None = DEFAULT_TIMEOUT) -> TargetSpec:
    """A target from what a user typed: a socket path, ``unix://``, ``tcp://``, a plugin name,
    or (None, ``builtin``, ``builtin:compat=20.10,state=temp,...``) the in-process reference
    plugin configured by ``config`` and ``state`` and the settings after the colon.

    Raises ReplayUnusable for an address that cannot be parsed or resolved.
    """
    text = (text or addresses.BUILTIN).strip()
    name, _sep, settings = text.partition(":")
    if name == addresses.BUILTIN and not settings.startswith("//"):
        config, state, auto_driver = _builtin_settings(settings, config or BuiltinConfig(), state)
        return TargetSpec(label="builtin", builtin=config, state=state, auto_driver=auto_driver,
                          timeout=None)
    try:
        found = addresses.parse(text)
    except addresses.AddressError as exc:
        raise ReplayUnusable(f"target {text!r}: {exc}") from exc
    return TargetSpec(label=str(found), address=found, timeout=timeout)
