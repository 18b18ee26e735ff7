"""Recordings: one JSON object per line, append-only, flushed per record.

Theory of operation
-------------------
The first line is a ``header`` record that carries the format name and version. Every later line
is one of ``open`` / ``close`` (a docker-side connection), ``exchange`` (one request and its
answer), ``marker`` (a label inserted while recording) or ``note`` (text attached to an exchange
afterwards; the exchange line itself is never rewritten). ``docs/recording-format.md`` is the
user-facing description of this module.

Bodies are stored readably and exactly: a JSON body is stored as JSON together with the name of
the layout that reproduces its bytes (``go``: compact, HTML-escaped, trailing newline, as dockerd
writes; ``compact``; ``spaced``: Python's default separators); when no layout reproduces the bytes,
the original text is kept beside the JSON. Other bodies are text or base64.

Readers tolerate a torn last line (a writer killed mid-line) and upgrade older versions through
the ``UPGRADES`` table.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as _dt
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from . import __version__
from .dockerd import gojson
from .dockerd.endpoints import AddressRole
from .dockerd.ledger import AddressRoles
from .records import AnsweredBy, FaultKind, HeaderRecord, RecordType, Side

FORMAT = "ipamx-spy-recording"
VERSION = 2

JSONValue = Any
Header = tuple[str, str]


class RecordingError(ValueError):
    """A recording file cannot be read: not a recording, or a line in the middle is broken."""


# -- bodies ---------------------------------------------------------------------------------


_COMPACT = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_SPACED = json.JSONEncoder(ensure_ascii=False).encode
_ASCII = json.JSONEncoder().encode
"""``json.dumps`` with these settings, its encoder made once (``dumps`` makes one a call)."""


go_json = gojson.fields
"""What Go's ``json.Encoder`` writes for a value whose objects are structs in insertion order
(no newline): the authority's one encoder (``dockerd.gojson.fields``)."""


LAYOUTS: dict[str, Callable[[JSONValue], str]] = {
    # The ``go`` layouts are the bytes ``gojson.compact`` gives (Python's float text), frozen by
    # the files already written; they are Go's bytes for every body without a float or U+0008/C.
    "go": lambda v: gojson.compact(v) + "\n",
    "go-no-newline": gojson.compact,
    "compact": lambda v: _COMPACT(v) + "\n",
    "spaced": lambda v: _SPACED(v) + "\n",
    "spaced-no-newline": _SPACED,
    "ascii": lambda v: _ASCII(v) + "\n",
}


MAX_DEPTH = 64
"""JSON nested deeper than this is stored and read as text (dockerd's bodies are 4 deep).

Deeper values would make every reader that walks a body (the live view, the HTML export, the
validator) recurse without bound; as text they stay exact and readable."""

_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def json_too_deep(value: JSONValue, limit: int = MAX_DEPTH) -> bool:
    """True when ``value`` nests lists and objects deeper than ``limit`` (walked iteratively)."""
    stack: list[tuple[JSONValue, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[JSONValue] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def utf8_encodable(value: JSONValue) -> bool:
    """False when ``value`` holds a string UTF-8 cannot encode (a lone surrogate)."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# ``json.loads``'s own scanner (default settings): ``(value, end)`` of the JSON value at an index,
# without ``json.loads``'s wrappers (its encoding detection and two whitespace matches).
SCAN_JSON: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]


def loads_line(line: bytes) -> Any:
    """``json.loads(line)`` of one line of a recording, for its readers: the same value, and
    the same exception with the same message. A line that starts ``{"`` and ends at its
    object (then its newline) is decoded by ``json.loads``'s own scanner directly, without
    its ``detect_encoding`` (such bytes are UTF-8 to it) and its wrappers, about a fifth of
    its time per record; any other line, and any line the scanner refuses, goes through
    ``json.loads``."""
    if line.startswith(b'{"'):
        try:
            text = line.decode("utf-8", "surrogatepass")
            value, end = SCAN_JSON(text, 0)
        except (ValueError, StopIteration, RecursionError):
            return json.loads(line)  # raises as it would have
        if end == len(text) or (end == len(text) - 1 and text[end] == "\n"):
            return value
    return json.loads(line)


def encode_body(raw: bytes) -> dict[str, JSONValue]:
    """The stored form of a message body (see the module docstring). Never raises.

    Bodies that cannot be stored as JSON although they parse (a lone surrogate escape such as
    ``\\ud800``, which UTF-8 cannot hold; nesting deeper than ``MAX_DEPTH``) are stored exactly
    as base64 or text, with a ``reason`` saying why.
    """
    if not raw:
        return {"encoding": "empty"}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"encoding": "base64", "base64": base64.b64encode(raw).decode("ascii"),
                "reason": "not UTF-8"}
    try:
        value = json.loads(text)
    except RecursionError:
        return {"encoding": "text", "text": text, "reason": DEEP_REASON}
    except ValueError:
        return {"encoding": "text", "text": text}
    if _SURROGATE_ESCAPE.search(text) and not utf8_encodable(value):
        return {"encoding": "base64", "base64": base64.b64encode(raw).decode("ascii"),
                "reason": SURROGATE_REASON}
    if isinstance(value, dict | list) and text.count("[") + text.count("{") > MAX_DEPTH \
            and json_too_deep(value):
        return {"encoding": "text", "text": text, "reason": DEEP_REASON}
    for name, layout in LAYOUTS.items():
        if layout(value) == text:
            return {"encoding": "json", "json": value, "layout": name}
    return {"encoding": "json", "json": value, "text": text}


DEEP_REASON = f"JSON nested deeper than {MAX_DEPTH} levels, kept as text"
SURROGATE_REASON = "JSON with a lone surrogate escape (UTF-8 cannot hold it), kept as base64"
ENCODINGS = ("empty", "json", "text", "base64", "omitted")


def decode_body(stored: dict[str, JSONValue] | None) -> bytes:
    """The exact bytes of a stored body. Raises RecordingError for an unknown encoding or a
    malformed stored body. An ``omitted`` body (left out by redaction) has no bytes."""
    if not stored or stored.get("encoding") in {"empty", "omitted"}:
        return b""
    encoding = stored.get("encoding")
    try:
        if encoding == "json":
            if "text" in stored:
                return _text(stored, "text").encode("utf-8")
            layout = LAYOUTS.get(stored.get("layout", "go"))
            if layout is None:
                raise RecordingError(f"unknown JSON body layout {stored.get('layout')!r}")
            return layout(stored["json"]).encode("utf-8")
        if encoding == "text":
            return _text(stored, "text").encode("utf-8")
        if encoding == "base64":
            return base64.b64decode(_text(stored, "base64"), validate=True)
    except (KeyError, TypeError, ValueError, RecursionError) as exc:
        if isinstance(exc, RecordingError):
            raise
        raise RecordingError(f"a {encoding} body that cannot be decoded ({exc!r:.80})") from None
    raise RecordingError(f"unknown body encoding {encoding!r}")


def _text(stored: dict[str, JSONValue], key: str) -> str:
    value = stored[key]
    if not isinstance(value, str):
        raise TypeError(f"body {key!r} must be a string")
    return value


def body_value(stored: dict[str, JSONValue] | None) -> JSONValue:
    """The body as the protocol sees it: decoded JSON, text, or None for an empty body."""
    if not stored or stored.get("encoding") == "empty":
        return None
    if stored.get("encoding") == "json":
        return stored["json"]
    if stored.get("encoding") == "text":
        return stored["text"]
    if stored.get("encoding") == "omitted":
        return f"«{stored.get('reason', 'omitted')}»"
    return decode_body(stored).decode("utf-8", "replace")


def check_body(stored: JSONValue, *, maybe_deep: bool = True) -> dict[str, JSONValue]:
    """A stored body as read from a file, checked so that every reader can use it.

    Returns the body, or a text copy of it when its JSON nests deeper than ``MAX_DEPTH``
    (``maybe_deep=False`` skips that walk when the caller knows the line is shallow).
    Raises RecordingError when it is not a stored body, or its encoding is unknown or broken.
    """
    if stored is None:
        return {"encoding": "empty"}
    if not isinstance(stored, dict):
        raise RecordingError("a body must be an object with an encoding")
    encoding = stored.get("encoding")
    if not isinstance(encoding, str) or encoding not in ENCODINGS:
        raise RecordingError(f"unknown body encoding {encoding!r:.40}")
    if encoding == "json":
        if "json" not in stored:
            raise RecordingError("a json body without its json")
        if "text" in stored:
            if not isinstance(stored["text"], str):
                raise RecordingError("a json body whose text is not a string")
        elif not isinstance(stored.get("layout", "go"), str) \
                or stored.get("layout", "go") not in LAYOUTS:
            raise RecordingError(f"unknown JSON body layout {stored.get('layout')!r:.40}")
        if maybe_deep and json_too_deep(stored["json"]):
            return {"encoding": "text", "text": decode_body(stored).decode("utf-8"),
                    "reason": DEEP_REASON}
    elif encoding in {"text", "base64"}:
        decode_body(stored)
    return stored


def body_is_json(stored: dict[str, JSONValue] | None) -> bool:
    return bool(stored) and stored.get("encoding") == "json"  # type: ignore[union-attr]


# -- records --------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Message:
    """One HTTP request or response as it crossed the wire."""

    headers: tuple[Header, ...]
    body: dict[str, JSONValue]
    http_version: str = "1.1"
    method: str = ""
    target: str = ""
    status: int = 0
    reason: str = ""

    def __post_init__(self) -> None:
        if not self.method and not self.status:
            raise ValueError("a message is a request (method) or a response (status)")

    @property
    def is_request(self) -> bool:
        return bool(self.method)

    def header(self, name: str) -> str | None:
        """The first value of a header, matched case-insensitively."""
        lowered = name.lower()
        for key, value in self.headers:
            if key.lower() == lowered:
                return value
        return None

    @property
    def value(self) -> JSONValue:
        return body_value(self.body)

    @property
    def raw_body(self) -> bytes:
        return decode_body(self.body)

    def raw(self) -> bytes:
        """The message re-assembled byte for byte (headers in their order and casing)."""
        if self.is_request:
            start = f"{self.method} {self.target} HTTP/{self.http_version}\r\n"
        else:
            start = f"HTTP/{self.http_version} {self.status} {self.reason}\r\n"
        lines = "".join(f"{k}: {v}\r\n" for k, v in self.headers)
        return (start + lines + "\r\n").encode("latin-1") + self.raw_body

    def to_json(self) -> dict[str, JSONValue]:
        out: dict[str, JSONValue] = {}
        if self.is_request:
            out.update(method=self.method, target=self.target)
        else:
            out.update(status=self.status, reason=self.reason)
        out.update(
            http_version=self.http_version,
            headers=[list(h) for h in self.headers],
            body=self.body,
        )
        return out

    @classmethod
    def from_json(cls, data: dict[str, JSONValue], *, maybe_deep: bool = True) -> Message:
        """A message from its stored form. Raises RecordingError (naming the bad field) when
        it is not one; the result is safe for every reader (see ``check_body``)."""
        if not isinstance(data, dict):
            raise RecordingError("a message must be a JSON object")
        headers = data.get("headers", [])
        if not isinstance(headers, list):
            raise RecordingError("headers must be a list of [name, value] strings")
        pairs: list[Header] = []
        ascii_only = True  # ASCII is always Latin-1; only other text needs the check
        for item in headers:  # a plain loop: every reader of every file passes here
            if type(item) is not list or len(item) != 2:
                raise RecordingError("headers must be a list of [name, value] strings")
            name, value = item
            if type(name) is not str or type(value) is not str:
                raise RecordingError("headers must be a list of [name, value] strings")
            if ascii_only and not (name.isascii() and value.isascii()):
                ascii_only = False
            pairs.append((name, value))
        get = data.get
        method, target, reason = get("method", ""), get("target", ""), get("reason", "")
        status, http_version = get("status", 0), get("http_version", "1.1")
        if type(method) is not str or type(target) is not str or type(reason) is not str \
                or type(http_version) is not str or type(status) is not int:
            _latin1(pairs, [method, target, reason, http_version])
            _start_line(data)  # raises, naming the field of the wrong type
        if not ascii_only or not (method + target + reason + http_version).isascii():
            _latin1(pairs, [method, target, reason, http_version])
        if not method and not status:
            raise RecordingError("a message is a request (method) or a response (status)")
        # every field checked as __init__ and __post_init__ would: set without them (the
        # generated __init__'s object.__setattr__ per field is a third of this function)
        return made(cls, method=method, target=target, status=status, reason=reason,
                    http_version=http_version, headers=tuple(pairs),
                    body=check_body(get("body"), maybe_deep=maybe_deep))

_Made = TypeVar("_Made")


def made(cls: type[_Made], **fields: Any) -> _Made:
    """A frozen dataclass of a hot path (``Message``, ``Exchange``: the relay, the readers)
    set without its generated ``__init__``, whose ``object.__setattr__`` per field costs
    about a microsecond. Every field must be given, and the caller has made the class's own
    checks (``Exchange`` has none, ``Message`` one)."""
    instance = object.__new__(cls)
    instance.__dict__.update(fields)
    return instance


def _start_line(data: dict[str, JSONValue]) -> None:
    """Raise RecordingError when a start-line field of a stored message has the wrong type."""
    for key in ("method", "target", "reason"):
        _str(data, key)
    _str(data, "http_version", "1.1")
    _int(data, "status")


def _latin1(pairs: list[Header], start: list[JSONValue]) -> None:
    """Raise RecordingError when a header or the start line holds text HTTP/1.1 cannot carry
    (a field that is not a string is left to the field's own check)."""
    text = "".join([*(k + v for k, v in pairs), *(str(part) for part in start)])
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        raise RecordingError("a header or the start line holds a character HTTP/1.1 "
                             "cannot carry") from None


def _str(data: dict[str, JSONValue], key: str, default: str = "") -> str:
    value = data.get(key, default)
    if not isinstance(value, str):
        raise RecordingError(f"{key} must be a string, not {value!r:.40}")
    return value


def _int(data: dict[str, JSONValue], key: str, default: int = 0) -> int:
    value = data.get(key, default)
    if type(value) is int:  # the common case, first (every exchange read has two)
        return value
    if not isinstance(value, int) or isinstance(value, bool):
        raise RecordingError(f"{key} must be a whole number, not {value!r:.40}")
    return value


def _number(data: dict[str, JSONValue], key: str, default: float | None = 0.0) -> float | None:
    value = data.get(key, default)
    if type(value) is float and -1e12 <= value <= 1e12:  # the common case, first (every
        return value  # exchange read has three); NaN fails the comparisons
    if value is None and default is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) \
            or not math.isfinite(value) or abs(value) > 1e12:
        raise RecordingError(f"{key} must be a number, not {value!r:.40}")
    return float(value)


@dataclass(frozen=True, kw_only=True)
class Fault:
    """Something that went wrong in an exchange, and which side caused it.

    ``side`` is ``plugin`` (the upstream plugin misbehaved or is unreachable), ``docker`` (the
    docker side sent something unusable) or ``proxy`` (ipamx-spy's own limit or failure).
    """

    side: Side
    kind: FaultKind
    message: str

    def __post_init__(self) -> None:
        try:  # a fault read back from JSON carries the words
            object.__setattr__(self, "side", Side(self.side))
        except ValueError:
            raise ValueError(f"fault side must be plugin, docker or proxy, not {self.side!r}"
                             ) from None
        try:
            object.__setattr__(self, "kind", FaultKind(self.kind))
        except ValueError:
            raise ValueError(f"fault kind must be one of {', '.join(FaultKind)}, not "
                             f"{self.kind!r}") from None

    def to_json(self) -> dict[str, JSONValue]:
        return {"side": self.side.value, "kind": self.kind.value, "message": self.message}

    @classmethod
    def from_json(cls, data: JSONValue) -> Fault:
        """A fault from its stored form. Raises RecordingError when it is not one."""
        if not isinstance(data, dict):
            raise RecordingError("a fault must be a JSON object")
        side = _str(data, "side")
        if side not in set(Side):
            raise RecordingError(f"fault side must be plugin, docker or proxy, not {side!r}")
        kind = _str(data, "kind")
        if kind not in set(FaultKind):
            raise RecordingError(f"fault kind must be one of {', '.join(FaultKind)}, not "
                                 f"{kind!r:.40}")
        return cls(side=Side(side), kind=FaultKind(kind), message=_str(data, "message"))


_ANSWERED_BY: dict[str, AnsweredBy] = {member.value: member for member in AnsweredBy}


@dataclass(frozen=True, kw_only=True)
class Exchange:
    """One request from the docker side and the answer that went back to it."""

    seq: int
    conn: int
    t: float
    endpoint: str
    request: Message
    response: Message | None
    duration_ms: float = 0.0
    upstream_ms: float | None = None
    fault: Fault | None = None
    answered_by: AnsweredBy = AnsweredBy.PLUGIN
    docker_version: str | None = field(default=None, compare=False)
    """The recording header's ``docker_version``: the daemon whose verdict the answer gets
    (None: the authority's default). Not part of the record; readers fill it from the
    header of the recording (or of the host) the exchange belongs to."""
    address_role: AddressRole | None = field(default=None, compare=False)
    """A ReleaseAddress's: what its address is to dockerd (a container's, the gateway, an
    --aux-address), which picks the verdict's log line; None when not known or another call.
    Not part of the record; readers fill it by following the session in order
    (``dockerd.ledger.AddressRoles``)."""

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "type": RecordType.EXCHANGE.value,
            "seq": self.seq,
            "conn": self.conn,
            "t": round(self.t, 6),
            "endpoint": self.endpoint,
            "duration_ms": round(self.duration_ms, 3),
            "upstream_ms": None if self.upstream_ms is None else round(self.upstream_ms, 3),
            "answered_by": str(self.answered_by),
            "request": self.request.to_json(),
            "response": None if self.response is None else self.response.to_json(),
            "fault": None if self.fault is None else self.fault.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, JSONValue], *, maybe_deep: bool = True,
                  docker_version: str | None = None,
                  address_role: AddressRole | None = None,
                  request: Message | None = None, answer: Message | None = None) -> Exchange:
        """An exchange from its record (``docker_version``: its recording header's;
        ``address_role``: what the session's follower says a ReleaseAddress gives back;
        ``request``: the request's ``Message`` when the caller read it already, and the
        record then holds none; ``answer`` likewise the response's, the record's being
        null). Raises RecordingError naming what is wrong."""
        if "seq" not in data or "endpoint" not in data or (request is None
                                                           and "request" not in data):
            raise RecordingError("an exchange needs seq, endpoint and request")
        fault = data.get("fault")
        response = data.get("response")
        answered_by = _str(data, "answered_by", AnsweredBy.PLUGIN)
        if answered_by not in _ANSWERED_BY:
            raise RecordingError(f"answered_by must be plugin, builtin or spy, not "
                                 f"{answered_by!r:.40}")
        # every field checked as the generated __init__ would take it, and set without it
        # (its object.__setattr__ per field of a frozen class), as Message.from_json does
        return made(
            cls,
            seq=_int(data, "seq"),
            conn=_int(data, "conn"),
            t=float(_number(data, "t") or 0.0),
            endpoint=_str(data, "endpoint"),
            request=request if request is not None else Message.from_json(
                data["request"], maybe_deep=maybe_deep),
            response=answer if response is None else Message.from_json(
                response, maybe_deep=maybe_deep),
            duration_ms=float(_number(data, "duration_ms") or 0.0),
            upstream_ms=_number(data, "upstream_ms", None),
            fault=None if fault is None else Fault.from_json(fault),
            answered_by=_ANSWERED_BY[answered_by],
            docker_version=docker_version,
            address_role=address_role,
        )

    @property
    def status(self) -> int | None:
        return None if self.response is None else self.response.status


@dataclass(frozen=True, kw_only=True)
class Recording:
    """A whole recording as read from disk."""

    header: dict[str, JSONValue]
    records: tuple[dict[str, JSONValue], ...]
    path: Path | None = None
    torn_tail: bool = False
    exchanges: tuple[Exchange, ...] = field(default=())
    damage: tuple[Damage, ...] = ()

    def markers(self) -> list[dict[str, JSONValue]]:
        return [r for r in self.records if r.get("type") == RecordType.MARKER]

    def notes(self) -> dict[int, list[str]]:
        notes: dict[int, list[str]] = {}
        for r in self.records:
            if r.get("type") == RecordType.NOTE:
                notes.setdefault(int(r["seq"]), []).append(str(r["text"]))
        return notes


@dataclass(frozen=True, kw_only=True)
class Damage:
    """A line of a recording that a reader skipped, and why."""

    source: str
    line: int
    reason: str
    torn: bool = False

    def __str__(self) -> str:
        return f"{self.source}:{self.line}: {self.reason}; skipped"


def _followed_role(roles: AddressRoles, exchange: Exchange) -> AddressRole | None:
    """What the session's follower ``roles`` says of ``exchange`` as it comes, in order."""
    response = exchange.response
    return roles.follow(exchange.endpoint, exchange.request.value,
                        None if response is None else response.status,
                        None if response is None else response.value)


def with_address_role(roles: AddressRoles, exchange: Exchange) -> Exchange:
    """``exchange`` as the session's follower ``roles`` reads it, in order: a ReleaseAddress
    gets its ``address_role`` (the same exchange when the role is already that one)."""
    role = _followed_role(roles, exchange)
    if role is None or role is exchange.address_role:
        return exchange
    return dataclasses.replace(exchange, address_role=role)


def attach_address_role(roles: AddressRoles, exchange: Exchange) -> Exchange:
    """``with_address_role`` for an exchange its reader has just built and no one else
    holds yet: the role is set on it, not on a copy (a copy per release cost a reader of a
    large file more than the follower itself). Returns ``exchange``."""
    role = _followed_role(roles, exchange)
    if role is not None:
        object.__setattr__(exchange, "address_role", role)  # not compared, not hashed
    return exchange


def header_docker_version(header: Mapping[str, JSONValue] | None) -> str | None:
    """The ``docker_version`` a recording header names, or None (absent, or not text)."""
    version = None if header is None else header.get("docker_version")
    return version if isinstance(version, str) and version else None


def now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def make_header(**fields: JSONValue) -> dict[str, JSONValue]:
    """The first record of a recording. Pass name, listen, upstream and anything useful."""
    return HeaderRecord(format=FORMAT, version=VERSION, tool=f"ipamx-spy {__version__}",
                        started=now_iso(), fields=fields).to_json()


# -- writing and reading: ipamx_spy.recording_writer and ipamx_spy.recording_reader ----------

from .recording_reader import (  # noqa: E402
    UPGRADES,
    RecordingReader,
    iter_exchanges,
    load,
    parse,
    read_header,
)
from .recording_writer import RecordingWriter, append_records, encode_line  # noqa: E402

__all__ = [
    "FORMAT", "LAYOUTS", "MAX_DEPTH", "UPGRADES", "VERSION", "Damage", "Exchange", "Fault",
    "Message", "Recording", "RecordingError", "RecordingReader", "RecordingWriter",
    "append_records", "body_is_json", "body_value", "check_body", "decode_body", "encode_body",
    "encode_line", "go_json", "iter_exchanges", "load", "make_header", "now_iso", "parse",
    "read_header",
]
