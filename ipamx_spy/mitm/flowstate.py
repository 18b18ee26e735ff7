"""Exchanges as mitmproxy flow state, and flow state back into exchanges.

The layout is mitmproxy's flow format version 21 (``HTTPFlow.get_state`` of mitmproxy 11: the
flow's own fields, ``client_conn`` / ``server_conn`` as ``Connection`` dataclasses, ``request``
and ``response`` as ``RequestData`` / ``ResponseData``); mitmproxy's ``io/compat.py`` upgrades
it for newer releases. Every key must be present: mitmproxy's ``set_state`` refuses a state with
a missing or an extra field.

Mapping:

- dockerd is the client (``peername`` ``("dockerd", N)``: N is the connection's number, there
  is no port on a Unix socket; ``sockname`` the plugin socket), the
  plugin the server (``address`` the request's Host, ``plugin.moby.localhost`` when dockerd sent
  it empty; ``peername`` the upstream socket); one client and one server connection per docker
  side connection, with its opening and closing time;
- request and response keep their headers (order, casing), bodies and HTTP version byte for byte
  (header text is Latin-1, as on the wire);
- the request is complete at the exchange's ``t``; the answer starts after the plugin's time
  (``upstream_ms``) and ends at ``t + duration_ms``; an exchange without an answer has no
  ``response`` and an ``error``;
- the flow's ``metadata["ipamx-spy"]`` (``META``) holds what mitmproxy has no field for: the
  exchange's own record without its messages, its connection, section, verdict, findings and
  notes, and the recording's other records around it, so that ``recording_records`` can write
  the recording again;
- ``metadata["ipamx-spy-address-role"]`` (``ROLE_META``) says what a ``ReleaseAddress`` gives
  back to dockerd (``dockerd.AddressRole``: a container's address, the gateway, an
  --aux-address; "" for other calls), which the request does not say: the exporter writes the
  role the recording reader followed, and the addon follows the flows it sees in order
  (``follow_role``, with the one follower every reader uses, ``dockerd.ledger.AddressRoles``).

Standard library only (besides ``dockerd`` and ``recording``): the addon that runs inside
mitmproxy's Python imports this module.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ipamx_spy import dockerd
from ipamx_spy.dockerd.ledger import AddressRoles
from ipamx_spy.recording import (
    Exchange,
    Message,
    encode_body,
    header_docker_version,
    make_header,
    with_address_role,
)
from ipamx_spy.records import AnsweredBy, RecordType

FLOW_FORMAT_VERSION = 21
META = "ipamx-spy"
META_FORMAT = 1
ROLE_META = "ipamx-spy-address-role"
DEFAULT_HOST = "plugin.moby.localhost"
NOTE_PREFIX = "note: "

State = dict[str, Any]


def unix_time(iso: str) -> float:
    """Seconds since the epoch of an ISO 8601 time (``Z`` allowed); 0.0 when unreadable."""
    try:
        value = _dt.datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return 0.0
    return (value if value.tzinfo else value.replace(tzinfo=_dt.UTC)).timestamp()


def iso_time(seconds: float) -> str:
    moment = _dt.datetime.fromtimestamp(seconds, _dt.UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def stable_id(*parts: object) -> str:
    """A UUID derived from its parts: the same recording always exports the same flow ids."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "ipamx-spy:" + ":".join(map(str, parts))))


def _wire(text: str) -> bytes:
    try:
        return text.encode("latin-1")
    except UnicodeEncodeError:  # a hand-written recording: keep the characters as UTF-8
        return text.encode("utf-8")


def _text(data: bytes | str | None) -> str:
    return data if isinstance(data, str) else (data or b"").decode("latin-1")


def address(text: str, default_port: int = 80) -> tuple[str, int]:
    """``host[:port]`` or ``tcp://host:port`` as an address; a Unix socket path gets port 0."""
    bare = text.split("://", 1)[-1]
    if text.startswith("unix://") or bare.startswith("/"):
        return bare, 0
    host, colon, port = bare.rpartition(":")
    if colon and port.isdigit() and "]" not in port:
        return host.strip("[]"), int(port)
    return bare.strip("[]"), default_port


@dataclass(frozen=True, kw_only=True)
class Peers:
    """Where the exchanges of one recording travelled: the plugin socket and the upstream."""

    listen: str = ""
    upstream: str = ""


@dataclass(frozen=True, kw_only=True)
class Connection:
    """A docker-side connection: its number and when it opened and closed (epoch seconds)."""

    key: str
    number: int
    opened: float
    closed: float | None = None


_TLS_OFF: State = {"alpn": None, "alpn_offers": [], "certificate_list": [], "cipher": None,
                   "cipher_list": [], "sni": None, "tls": False, "tls_version": None,
                   "timestamp_tls_setup": None}


def client_state(connection: Connection, peers: Peers) -> State:
    return {**_TLS_OFF, "id": stable_id(connection.key, "client", connection.number),
            "peername": ["dockerd", connection.number], "sockname": [peers.listen, 0],
            "error": None, "mitmcert": None, "proxy_mode": "regular", "transport_protocol": "tcp",
            "timestamp_start": connection.opened, "timestamp_end": connection.closed}


def server_state(connection: Connection, peers: Peers, host: tuple[str, int],
                 contacted: bool) -> State:
    upstream = list(address(peers.upstream)) if peers.upstream else None
    opened = connection.opened if contacted else None
    return {**_TLS_OFF, "id": stable_id(connection.key, "server", connection.number),
            "address": list(host), "peername": upstream, "sockname": None, "error": None,
            "transport_protocol": "tcp", "via": None, "timestamp_start": opened,
            "timestamp_tcp_setup": opened, "timestamp_end": connection.closed if opened else None}


def _headers(message: Message) -> list[list[bytes]]:
    return [[_wire(name), _wire(value)] for name, value in message.headers]


def request_state(message: Message, at: float) -> State:
    host, port = address(message.header("Host") or DEFAULT_HOST)
    return {"host": host or DEFAULT_HOST, "port": port, "method": _wire(message.method),
            "scheme": b"http", "authority": b"", "path": _wire(message.target),
            "http_version": _wire(f"HTTP/{message.http_version}"), "headers": _headers(message),
            "content": message.raw_body, "trailers": None, "timestamp_start": at,
            "timestamp_end": at}


def response_state(message: Message, start: float, end: float) -> State:
    return {"status_code": message.status, "reason": _wire(message.reason),
            "http_version": _wire(f"HTTP/{message.http_version}"), "headers": _headers(message),
            "content": message.raw_body, "trailers": None, "timestamp_start": start,
            "timestamp_end": end}


@dataclass(frozen=True, kw_only=True)
class Annotations:
    """What the exporter adds to a flow: its comment, marker, error text and metadata."""

    comment: str = ""
    marked: str = ""
    error: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


def flow_state(exchange: Exchange, *, started: float, connection: Connection, peers: Peers,
               annotations: Annotations) -> State:
    """The mitmproxy state of one exchange (``started``: the recording's start, epoch seconds)."""
    at = started + exchange.t
    end = at + max(exchange.duration_ms, 0.0) / 1000
    answer_at = min(end, at + (exchange.upstream_ms or 0.0) / 1000)
    request = request_state(exchange.request, at)
    response = (None if exchange.response is None
                else response_state(exchange.response, answer_at, end))
    error = (None if annotations.error is None
             else {"msg": annotations.error, "timestamp": end})
    return {
        "version": FLOW_FORMAT_VERSION, "type": "http",
        "id": stable_id(connection.key, "flow", exchange.seq), "error": error,
        "client_conn": client_state(connection, peers),
        "server_conn": server_state(connection, peers, (request["host"], request["port"]),
                                    contacted=exchange.answered_by != AnsweredBy.SPY),
        "intercepted": False, "is_replay": None, "marked": annotations.marked,
        "metadata": dict(annotations.metadata), "comment": annotations.comment,
        "timestamp_created": at, "backup": None,
        "request": request, "response": response, "websocket": None,
    }


# -- back into a recording ------------------------------------------------------------------


def message_from_state(state: Mapping[str, Any], *, request: bool) -> Message:
    """A recording message from mitmproxy's request or response state."""
    headers = tuple((_text(k), _text(v)) for k, v in state.get("headers") or ())
    version = _text(state.get("http_version")).removeprefix("HTTP/") or "1.1"
    body = encode_body(state.get("content") or b"")
    if request:
        return Message(method=_text(state["method"]), target=_text(state["path"]),
                       http_version=version, headers=headers, body=body)
    return Message(status=int(state["status_code"]), reason=_text(state.get("reason")),
                   http_version=version, headers=headers, body=body)


def notes_of(comment: str) -> list[str]:
    """The notes in a flow comment: its ``note: …`` lines (the other lines are generated)."""
    return [line[len(NOTE_PREFIX):] for line in comment.splitlines()
            if line.startswith(NOTE_PREFIX)]


@dataclass
class _Rebuild:
    """The recording being written from flows, in flow order."""

    started: float
    records: list[dict[str, Any]] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    seqs: set[int] = field(default_factory=set)
    conns: dict[str, int] = field(default_factory=dict)

    def seq(self, wanted: object) -> int:
        seq = wanted if isinstance(wanted, int) and wanted not in self.seqs else (
            max(self.seqs, default=0) + 1)
        self.seqs.add(seq)
        return seq

    def conn(self, client: Mapping[str, Any]) -> int:
        """The number of a connection mitmproxy recorded itself (no ipamx-spy metadata)."""
        key = str(client.get("id", ""))
        if key not in self.conns:
            self.conns[key] = len(self.conns) + 1
            opened = self.relative(client.get("timestamp_start"))
            self.records.append({"type": RecordType.OPEN.value, "conn": self.conns[key],
                                 "peer": "docker", "t": opened})
        return self.conns[key]

    def relative(self, moment: object) -> float:
        return round(float(moment) - self.started, 6) if isinstance(moment, int | float) else 0.0


def _own_fields(state: Mapping[str, Any], rebuild: _Rebuild) -> dict[str, Any]:
    """seq, conn, t, timings and fault: kept in the metadata, or read from mitmproxy's times."""
    meta = (state.get("metadata") or {}).get(META) or {}
    if isinstance(meta.get("exchange"), Mapping):
        return dict(meta["exchange"])
    request, response = state["request"], state.get("response")
    begun = float(request.get("timestamp_start") or rebuild.started)
    done = float((response or request).get("timestamp_end") or begun)
    answered = float(response.get("timestamp_start") or done) if response else done
    error = state.get("error")
    return {"conn": rebuild.conn(state.get("client_conn") or {}), "t": rebuild.relative(begun),
            "duration_ms": round((done - begun) * 1000, 3),
            "upstream_ms": round((answered - float(request.get("timestamp_end") or begun))
                                 * 1000, 3) if response else None,
            "fault": None if not error or response else
            {"side": "plugin", "kind": "no-answer", "message": str(error.get("msg", ""))}}


def exchange_from_state(state: Mapping[str, Any], rebuild: _Rebuild) -> Exchange:
    request = message_from_state(state["request"], request=True)
    response = state.get("response")
    own = _own_fields(state, rebuild)
    record = {**own, "seq": rebuild.seq(own.get("seq")), "type": RecordType.EXCHANGE.value,
              "endpoint": dockerd.endpoint_name(request.target),
              "request": request.to_json(),
              "response": None if response is None
              else message_from_state(response, request=False).to_json()}
    return Exchange.from_json(record, docker_version=_docker_version(state),
                              address_role=address_role_of(state))


def address_role_of(state: Mapping[str, Any]) -> dockerd.AddressRole | None:
    """The role ``ROLE_META`` names (None: not said, or not a role this version knows)."""
    text = (state.get("metadata") or {}).get(ROLE_META)
    try:
        return dockerd.AddressRole(text) if text else None
    except ValueError:
        return None


def follow_role(roles: AddressRoles, state: Mapping[str, Any]) -> str:
    """Follow one flow (in the session's order) with ``roles``; what to store as its
    ``ROLE_META``: the role of a ``ReleaseAddress``, "" for any other call."""
    role = with_address_role(roles, exchange_of(state)).address_role
    return role.value if role is not None else ""


def _docker_version(state: Mapping[str, Any]) -> str | None:
    """The daemon an exported flow's answer is read as: its recording header's
    ``docker_version`` (a merge's: the entry of the flow's host); None for a foreign flow."""
    meta = (state.get("metadata") or {}).get(META) or {}
    recorded = meta.get("recording")
    if not isinstance(recorded, Mapping):
        return None
    merged = recorded.get("merged")
    for entry in merged if isinstance(merged, list) else ():
        if isinstance(entry, Mapping) and entry.get("host") == meta.get("host"):
            return header_docker_version(entry)
    return header_docker_version(recorded)


def exchange_of(state: Mapping[str, Any]) -> Exchange:
    """One flow state as an exchange (numbers and times from the metadata, or mitmproxy's)."""
    rebuild = _Rebuild(started=unix_time(str(_header([state]).get("started", ""))))
    return exchange_from_state(state, rebuild)


def _header(states: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    for state in states:
        recorded = ((state.get("metadata") or {}).get(META) or {}).get("recording")
        if isinstance(recorded, Mapping):
            return dict(recorded)
    first = min((float(s["request"].get("timestamp_start") or 0.0) for s in states), default=0.0)
    return make_header(name="mitmproxy", started=iso_time(first), source="mitmproxy flows")


def _notes(state: Mapping[str, Any], seq: int, rebuild: _Rebuild, now: float) -> None:
    meta = (state.get("metadata") or {}).get(META) or {}
    known = {str(n.get("text")): n for n in meta.get("notes") or ()}
    comment = str(state.get("comment") or "")
    texts = notes_of(comment) if META in (state.get("metadata") or {}) else (
        [comment] if comment.strip() else [])
    for text in texts:
        kept = known.get(text) or {}
        when = kept.get("t")
        rebuild.notes.append({"type": RecordType.NOTE.value, "seq": seq, "text": text,
                              "t": when if when is not None else rebuild.relative(now),
                              "order": kept.get("order")})


def recording_records(states: Iterable[Mapping[str, Any]], *, now: float) -> list[dict[str, Any]]:
    """A recording (header first) made of mitmproxy flow states, in the order given.

    Flows that ipamx-spy exported bring back their exchange numbers, timings, faults, markers,
    connection records and notes from the metadata and the comment; the messages always come
    from the flow as it is now (edited or not). Flows mitmproxy captured itself get numbers in
    order, times relative to the first request, and their comment as a note. Non-HTTP flows
    are left out. ``now`` (epoch seconds) dates notes written in mitmproxy.
    """
    flows = [s for s in states if s.get("type") == "http" and s.get("request")]
    header = _header(flows)
    rebuild = _Rebuild(started=unix_time(str(header.get("started", ""))))
    after: list[dict[str, Any]] = []
    for state in flows:
        meta = (state.get("metadata") or {}).get(META) or {}
        rebuild.records += [dict(r) for r in meta.get("records_before") or ()]
        exchange = exchange_from_state(state, rebuild)
        rebuild.records.append(exchange.to_json())
        _notes(state, exchange.seq, rebuild, now)
        after = [dict(r) for r in meta.get("records_after") or ()]
    # notes as the recording had them, then the ones written in mitmproxy
    notes = sorted(rebuild.notes, key=lambda n: (n["order"] is None, n["order"] or 0))
    return [header, *rebuild.records, *after,
            *({k: v for k, v in n.items() if k != "order"} for n in notes)]
