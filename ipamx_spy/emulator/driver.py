"""Runs the emulated dockerd against a real target: a plugin socket, or a plugin app in-process.

``EmulatorSession.play(step)`` drives one docker command: it turns each ``Call`` into
dockerd's exact request bytes (``client.docker_request``), sends it (honouring dockerd's retry
backoff), reads the answer the way dockerd does, and records the exchange in the proxy's recording
format when a ``RecordingWriter`` is given.
"""

from __future__ import annotations

import http
import ipaddress
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from ipamx_spy import recording
from ipamx_spy.address import Address, AddressKind
from ipamx_spy.app import CONTENT_TYPE, PluginApp
from ipamx_spy.client import DOCKER_ACCEPT, PluginConnection, PluginNoAnswer, docker_request
from ipamx_spy.dockerd.ledger import AddressRoles
from ipamx_spy.dockerd.versions import VersionRow
from ipamx_spy.noanswer import NoAnswerKind
from ipamx_spy.recording import (
    Exchange,
    Fault,
    Message,
    RecordingWriter,
    encode_body,
    with_address_role,
)
from ipamx_spy.records import CloseRecord, MarkerRecord, OpenRecord, Side

from .core import Call, CallAnswer, Flow, call_answer
from .daemon import CommandOutcome, Daemon
from .scenario import Step
from .swarm import Swarm


class EmulatorNoAnswer(Exception):
    """No answer: ``text`` is what Go's client would say; ``kind`` says why (and whether the
    request left: ``kind.sent``)."""

    def __init__(self, kind: NoAnswerKind, text: str) -> None:
        super().__init__(text)
        self.kind = kind
        self.text = text

    @property
    def sent(self) -> bool:
        return self.kind.sent


@dataclass(frozen=True, kw_only=True)
class WireReply:
    status: int
    reason: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


class EmulatorTarget(Protocol):
    """Where the requests go. ``connection`` numbers the connection the next send uses."""

    address: Address

    def send(self, raw: bytes, endpoint: str, body: bytes) -> WireReply: ...

    @property
    def connected(self) -> bool: ...

    def close(self) -> None: ...


def _dial_text(address: Address, reason: str) -> str:
    reason = reason.lower()
    if address.kind is AddressKind.UNIX:
        return f"dial unix {address.path}: connect: {reason}"
    return f"dial tcp {address.host}:{address.port}: connect: {reason}"


@dataclass
class EmulatorSocketTarget:
    """A plugin on a Unix socket or TCP, one keep-alive connection as dockerd keeps it."""

    address: Address
    timeout: float | None = None  # dockerd has no timeout for legacy plugins
    _conn: PluginConnection | None = field(default=None, init=False, repr=False)
    _open: bool = field(default=False, init=False, repr=False)

    @property
    def connected(self) -> bool:
        return self._open

    def send(self, raw: bytes, endpoint: str, body: bytes) -> WireReply:
        if self._conn is None:
            self._conn = PluginConnection(self.address, timeout=self.timeout)
        try:
            message, _ms = self._conn.call(raw)
        except PluginNoAnswer as exc:
            self._open = False
            if exc.kind is NoAnswerKind.UNREACHABLE:
                raise EmulatorNoAnswer(exc.kind, _dial_text(self.address, exc.reason)) from exc
            raise EmulatorNoAnswer(exc.kind, "EOF") from exc
        self._open = message.keep_alive
        return WireReply(status=message.status, reason=message.reason, headers=message.headers,
                         body=message.body)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self._open = False


@dataclass
class EmulatorAppTarget:
    """A plugin app called in-process (``ipamx_spy.app.PluginApp``), e.g. the built-in one."""

    app: PluginApp
    address: Address = field(default_factory=lambda: Address(kind=AddressKind.BUILTIN))
    _open: bool = field(default=False, init=False, repr=False)

    @property
    def connected(self) -> bool:
        return self._open

    def send(self, raw: bytes, endpoint: str, body: bytes) -> WireReply:
        reply = self.app.handle(endpoint, body)
        self._open = True
        try:
            reason = http.HTTPStatus(reply.status).phrase
        except ValueError:
            reason = ""
        headers = (("Content-Type", reply.content_type or CONTENT_TYPE),
                   ("Content-Length", str(len(reply.body))))
        return WireReply(status=reply.status, reason=reason, headers=headers, body=reply.body)

    def close(self) -> None:
        self._open = False


def host_header(version: VersionRow, address: Address) -> str:
    """The ``Host`` value of this dockerd version for this address (PROTOCOL.md 1.2)."""
    if address.kind is AddressKind.TCP:
        return address.host_header
    return "plugin.moby.localhost" if version.dummy_host else ""


def url_host(version: VersionRow, address: Address) -> str:
    """The host part of the URL in dockerd's transport errors (``Post "http://..."``)."""
    if address.kind is AddressKind.TCP:
        return address.host_header
    if version.dummy_host or address.kind is not AddressKind.UNIX:
        return "plugin.moby.localhost"
    return quote(address.path, safe="")


def host_reserved(route_file: Path = Path("/proc/net/route"),
                  resolv_conf: Path = Path("/etc/resolv.conf")) -> tuple[str, ...]:
    """Networks dockerd avoids for dynamic pools: this host's IPv4 routes and nameservers."""
    found: list[str] = []
    try:
        for line in route_file.read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) > 7 and fields[1] != "00000000":
                dest = ipaddress.IPv4Address(int(fields[1], 16).to_bytes(4, "little"))
                mask = ipaddress.IPv4Address(int(fields[7], 16).to_bytes(4, "little"))
                found.append(str(ipaddress.IPv4Network(f"{dest}/{mask}", strict=False)))
    except (OSError, ValueError):
        pass
    try:
        for line in resolv_conf.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == "nameserver":
                found.append(str(ipaddress.ip_network(parts[1].split("%")[0])))
    except (OSError, ValueError):
        pass
    return tuple(dict.fromkeys(found))


@dataclass(frozen=True, kw_only=True)
class StepResult:
    step: Step
    outcome: CommandOutcome
    exchanges: tuple[Exchange, ...]
    logged: tuple[str, ...] = ()  # the lines dockerd logs for the failures it carries on from

    @property
    def as_expected(self) -> bool:
        return self.outcome.failed == self.step.expect_failure


class EmulatorSession:
    """One emulated dockerd talking to one target."""

    def __init__(self, daemon: Daemon, target: EmulatorTarget, *,
                 writer: RecordingWriter | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 on_exchange: Callable[[Exchange], None] | None = None,
                 history: bool = True) -> None:
        self.daemon = daemon
        self.target = target
        self.writer = writer
        self.sleep = sleep
        self.clock = clock
        self.on_exchange = on_exchange
        self.host = host_header(daemon.version, target.address)
        self.started = clock()
        self.seq = 0
        self.conn = 0
        self.exchanges: list[Exchange] = []  # every exchange; without ``history``, the command's
        self.history = history
        self.roles = AddressRoles()  # what each release gives back, as every reader follows it
        self.logged: list[str] = []  # the command's log lines (``StepResult.logged``)

    def now(self) -> float:
        return round(self.clock() - self.started, 6)

    def _write(self, record: dict[str, object]) -> None:
        if self.writer is not None:
            self.writer.write(record)

    def play(self, step: Step) -> StepResult:
        """Run one docker command to its end."""
        self.mark(step)
        first = len(self.exchanges)
        outcome = run_flow(self.daemon.play(step), self.perform)
        return StepResult(step=step, outcome=outcome, exchanges=tuple(self.exchanges[first:]),
                          logged=tuple(self.logged))

    def mark(self, step: Step) -> None:
        """The command's marker in the recording, before its exchanges (without ``history``
        the session holds only this command's exchanges from now on)."""
        if not self.history:
            self.exchanges = []
        self.logged = []
        self._write(MarkerRecord(t=self.now(), text=step.text, after_seq=self.seq).to_json())

    def perform(self, call: Call) -> CallAnswer:
        """One request to the target, recorded; what dockerd makes of the answer."""
        return self._perform(call)

    def _perform(self, call: Call) -> CallAnswer:
        if call.delay_s:
            self.sleep(call.delay_s)
        if not self.target.connected:
            self.conn += 1
            self._write(OpenRecord(conn=self.conn, t=self.now(), peer="ipamx-spy drive").to_json())
        raw = docker_request(call.endpoint, call.body, host=self.host)
        self.seq += 1
        t, started = self.now(), self.clock()
        try:
            reply = self.target.send(raw, call.endpoint, call.body)
        except EmulatorNoAnswer as exc:
            self._record(call, t, started, None, Fault(side=Side.PLUGIN, kind=exc.kind.fault,
                                                       message=exc.text))
            self._close(exc.text, (self.seq,) if exc.sent else ())
            return CallAnswer.unreachable(exc.text, sent=exc.sent)
        exchange = self._record(call, t, started, reply, None)
        if not self.target.connected:
            self._close("closed by the plugin")
        request = exchange.request.value
        answer = call_answer(call.endpoint, reply.status, reply.body,
                             major=self.daemon.version.major,
                             request=request if isinstance(request, dict) else None,
                             role=exchange.address_role)
        if answer.log_line is not None:
            self.logged.append(answer.log_line)
        return answer

    def _close(self, reason: str, unanswered: tuple[int, ...] = ()) -> None:
        self._write(CloseRecord(conn=self.conn, t=self.now(), reason=reason,
                                unanswered=unanswered).to_json())

    def _record(self, call: Call, t: float, started: float, reply: WireReply | None,
                fault: Fault | None) -> Exchange:
        """The exchange recorded (written, told), given its role by the session's follower."""
        request = Message(method="POST", target=f"/{call.endpoint}", body=encode_body(call.body),
                          headers=(("Host", self.host), ("User-Agent", "Go-http-client/1.1"),
                                   ("Content-Length", str(len(call.body))),
                                   ("Accept", DOCKER_ACCEPT)))
        response = None if reply is None else Message(
            status=reply.status, reason=reply.reason, headers=reply.headers,
            body=encode_body(reply.body))
        exchange = Exchange(seq=self.seq, conn=self.conn, t=t, endpoint=call.endpoint,
                            request=request, response=response,
                            duration_ms=(self.clock() - started) * 1000, fault=fault,
                            docker_version=self.daemon.version.name)  # the header's
        exchange = with_address_role(self.roles, exchange)
        self.exchanges.append(exchange)
        self._write(exchange.to_json())
        if self.on_exchange is not None:
            self.on_exchange(exchange)
        return exchange

    def close(self) -> None:
        if self.target.connected:
            self._close("session ended")
        self.target.close()


def run_flow(flow: Flow[CommandOutcome], perform: Callable[[Call], CallAnswer]) -> CommandOutcome:
    """Drive a command's flow to its end, answering each call with ``perform``."""
    try:
        call = next(flow)
        while True:
            call = flow.send(perform(call))
    except StopIteration as stop:
        outcome: CommandOutcome = stop.value
    return outcome


class SwarmSession:
    """The emulated daemons of a swarm, each talking to its own node's plugin (``targets``)
    and recording into its own writer: one recording per node, as each node's spy makes."""

    def __init__(self, swarm: Swarm, targets: Mapping[str, EmulatorTarget], *,
                 writers: Mapping[str, RecordingWriter] | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 on_exchange: Callable[[Exchange], None] | None = None) -> None:
        self.swarm = swarm
        self.sessions = {name: EmulatorSession(swarm.nodes[name], targets[name],
                                               writer=(writers or {}).get(name), sleep=sleep,
                                               clock=clock, on_exchange=on_exchange)
                         for name in swarm.names}

    def play(self, step: Step) -> StepResult:
        """Run one docker command to its end, on the node it names and wherever it leads."""
        first = {name: len(s.exchanges) for name, s in self.sessions.items()}
        for session in self.sessions.values():
            session.mark(step)
        outcome = run_flow(self.swarm.play(step), self._perform)
        made = [e for name, s in self.sessions.items() for e in s.exchanges[first[name]:]]
        logged = [line for s in self.sessions.values() for line in s.logged]
        return StepResult(step=step, outcome=outcome, exchanges=tuple(made),
                          logged=tuple(logged))

    def _perform(self, call: Call) -> CallAnswer:
        return self.sessions[call.node or self.swarm.names[0]].perform(call)

    def close(self) -> None:
        for session in self.sessions.values():
            session.close()


def recording_header(*, scenario: str, version: VersionRow, target: Address, host: str = "",
                     ) -> dict[str, object]:
    """A drive recording's header; ``host`` names the emulated node (one recording per node of
    a swarm, merged by ``multihost.merge`` like the spies' recordings)."""
    extra: dict[str, str] = {"host": host} if host else {}
    return recording.make_header(name=Path(scenario).stem, source="ipamx-spy drive",
                                 scenario=scenario, docker_version=version.name,
                                 upstream=str(target), **extra)
