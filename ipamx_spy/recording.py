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
import datetime as _dt
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from . import __version__

FORMAT = "ipamx-spy-recording"
VERSION = 1

JSONValue = Any
Header = tuple[str, str]


class RecordingError(ValueError):
    """A recording file cannot be read: not a recording, or a line in the middle is broken."""


# -- bodies ---------------------------------------------------------------------------------


def go_json(value: JSONValue) -> str:
    """Encode like Go's ``json.Encoder``: compact, ``<>&`` and U+2028/9 escaped, no newline."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return (
        text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    )


LAYOUTS: dict[str, Callable[[JSONValue], str]] = {
    "go": lambda v: go_json(v) + "\n",
    "go-no-newline": go_json,
    "compact": lambda v: json.dumps(v, separators=(",", ":"), ensure_ascii=False) + "\n",
    "spaced": lambda v: json.dumps(v, ensure_ascii=False) + "\n",
    "spaced-no-newline": lambda v: json.dumps(v, ensure_ascii=False),
    "ascii": lambda v: json.dumps(v) + "\n",
}


def encode_body(raw: bytes) -> dict[str, JSONValue]:
    """The stored form of a message body (see the module docstring)."""
    if not raw:
        return {"encoding": "empty"}
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return {"encoding": "base64", "base64": base64.b64encode(raw).decode("ascii")}
    try:
        value = json.loads(text)
    except ValueError:
        return {"encoding": "text", "text": text}
    for name, layout in LAYOUTS.items():
        if layout(value) == text:
            return {"encoding": "json", "json": value, "layout": name}
    return {"encoding": "json", "json": value, "text": text}


def decode_body(stored: dict[str, JSONValue] | None) -> bytes:
    """The exact bytes of a stored body. Raises RecordingError for an unknown encoding."""
    if not stored or stored.get("encoding") == "empty":
        return b""
    encoding = stored.get("encoding")
    if encoding == "json":
        if "text" in stored:
            return str(stored["text"]).encode("utf-8")
        layout = LAYOUTS.get(stored.get("layout", "go"))
        if layout is None:
            raise RecordingError(f"unknown JSON body layout {stored.get('layout')!r}")
        return layout(stored["json"]).encode("utf-8")
    if encoding == "text":
        return str(stored["text"]).encode("utf-8")
    if encoding == "base64":
        return base64.b64decode(stored["base64"])
    raise RecordingError(f"unknown body encoding {encoding!r}")


def body_value(stored: dict[str, JSONValue] | None) -> JSONValue:
    """The body as the protocol sees it: decoded JSON, text, or None for an empty body."""
    if not stored or stored.get("encoding") == "empty":
        return None
    if stored.get("encoding") == "json":
        return stored["json"]
    if stored.get("encoding") == "text":
        return stored["text"]
    return decode_body(stored).decode("utf-8", "replace")


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
    def from_json(cls, data: dict[str, JSONValue]) -> Message:
        return cls(
            method=data.get("method", ""),
            target=data.get("target", ""),
            status=int(data.get("status", 0)),
            reason=data.get("reason", ""),
            http_version=data.get("http_version", "1.1"),
            headers=tuple((str(k), str(v)) for k, v in data.get("headers", [])),
            body=data.get("body") or {"encoding": "empty"},
        )


@dataclass(frozen=True, kw_only=True)
class Fault:
    """Something that went wrong in an exchange, and which side caused it.

    ``side`` is ``plugin`` (the upstream plugin misbehaved or is unreachable), ``docker`` (the
    docker side sent something unusable) or ``proxy`` (ipamx-spy's own limit or failure).
    """

    side: str
    kind: str
    message: str

    def __post_init__(self) -> None:
        if self.side not in {"plugin", "docker", "proxy"}:
            raise ValueError(f"fault side must be plugin, docker or proxy, not {self.side!r}")

    def to_json(self) -> dict[str, JSONValue]:
        return {"side": self.side, "kind": self.kind, "message": self.message}


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
    answered_by: str = "plugin"

    def to_json(self) -> dict[str, JSONValue]:
        return {
            "type": "exchange",
            "seq": self.seq,
            "conn": self.conn,
            "t": round(self.t, 6),
            "endpoint": self.endpoint,
            "duration_ms": round(self.duration_ms, 3),
            "upstream_ms": None if self.upstream_ms is None else round(self.upstream_ms, 3),
            "answered_by": self.answered_by,
            "request": self.request.to_json(),
            "response": None if self.response is None else self.response.to_json(),
            "fault": None if self.fault is None else self.fault.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, JSONValue]) -> Exchange:
        fault = data.get("fault")
        response = data.get("response")
        return cls(
            seq=int(data["seq"]),
            conn=int(data.get("conn", 0)),
            t=float(data.get("t", 0.0)),
            endpoint=str(data["endpoint"]),
            request=Message.from_json(data["request"]),
            response=None if response is None else Message.from_json(response),
            duration_ms=float(data.get("duration_ms", 0.0)),
            upstream_ms=data.get("upstream_ms"),
            fault=None if fault is None else Fault(**fault),
            answered_by=data.get("answered_by", "plugin"),
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

    def markers(self) -> list[dict[str, JSONValue]]:
        return [r for r in self.records if r.get("type") == "marker"]

    def notes(self) -> dict[int, list[str]]:
        notes: dict[int, list[str]] = {}
        for r in self.records:
            if r.get("type") == "note":
                notes.setdefault(int(r["seq"]), []).append(str(r["text"]))
        return notes


def now_iso() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def make_header(**fields: JSONValue) -> dict[str, JSONValue]:
    """The first record of a recording. Pass name, listen, upstream and anything useful."""
    return {
        "type": "header",
        "format": FORMAT,
        "version": VERSION,
        "tool": f"ipamx-spy {__version__}",
        "started": now_iso(),
        **fields,
    }


# -- writing --------------------------------------------------------------------------------


class RecordingWriter:
    """Append records to a file, one line each, written to the OS before ``write`` returns.

    ``write`` raises OSError when the sink fails (disk full, file gone): the proxy's policy for
    that lives in ``ipamx_spy.proxy``.
    """

    def __init__(self, path: Path, header: dict[str, JSONValue], *, fsync: bool = False) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[bytes] = open(path, "ab", buffering=0)  # noqa: SIM115
        self._fsync = fsync
        if self._file.tell() == 0:
            self.write(header)

    def write(self, record: dict[str, JSONValue]) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
        self._file.write(line.encode("utf-8"))
        if self._fsync:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()


def append_records(path: Path, records: Iterable[dict[str, JSONValue]]) -> None:
    """Append records (for example notes) to an existing recording.

    Raises RecordingError when the file is not a recording or its last line is torn (appending
    would glue the new record onto the torn one).
    """
    read_header(path)
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) != b"\n":
            raise RecordingError(f"{path}: the last line is torn (a writer was killed "
                                 "mid-line); refusing to append after it")
    with open(path, "ab") as f:
        for record in records:
            f.write((json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode())


# -- reading --------------------------------------------------------------------------------

Upgrade = Callable[[dict[str, JSONValue]], dict[str, JSONValue]]
# version N -> function that turns a version-N record into a version-(N+1) record.
UPGRADES: dict[int, Upgrade] = {}


def _upgrade(record: dict[str, JSONValue], version: int) -> dict[str, JSONValue]:
    while version < VERSION:
        record = UPGRADES[version](record)
        version += 1
    return record


def _parse_lines(lines: list[bytes], source: str) -> tuple[list[dict[str, JSONValue]], bool]:
    records: list[dict[str, JSONValue]] = []
    torn = False
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            if number == len(lines):
                torn = True
                break
            raise RecordingError(f"{source}:{number}: not a JSON record ({exc})") from exc
        if not isinstance(record, dict):
            raise RecordingError(f"{source}:{number}: a record must be a JSON object")
        records.append(record)
    return records, torn


def read_header(path: Path) -> dict[str, JSONValue]:
    """The header record of a recording; RecordingError if the file is not a recording."""
    with open(path, "rb") as f:
        first = f.readline()
    try:
        header = json.loads(first)
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise RecordingError(f"{path}: not an ipamx-spy recording (no header line)")
    return header


def parse(data: bytes, source: str = "<recording>") -> Recording:
    """Parse a recording from bytes. Raises RecordingError (a ValueError) when unusable."""
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    records, torn = _parse_lines(lines, source)
    if not records or records[0].get("type") != "header" or records[0].get("format") != FORMAT:
        raise RecordingError(f"{source}: not an ipamx-spy recording (no header line)")
    header = records[0]
    version = int(header.get("version", 0))
    if version > VERSION:
        raise RecordingError(
            f"{source}: recording format version {version} is newer than this ipamx-spy "
            f"understands ({VERSION}); upgrade ipamx-spy"
        )
    if version < 1:
        raise RecordingError(f"{source}: bad recording format version {version!r}")
    body = tuple(_upgrade(r, version) for r in records[1:])
    exchanges = []
    for r in body:
        if r.get("type") == "exchange":
            try:
                exchanges.append(Exchange.from_json(r))
            except (KeyError, TypeError, ValueError) as exc:
                raise RecordingError(f"{source}: exchange {r.get('seq')}: {exc}") from exc
    return Recording(
        header=header, records=body, torn_tail=torn, exchanges=tuple(exchanges),
    )


def load(path: Path | str) -> Recording:
    """Read a recording file. Raises FileNotFoundError or RecordingError."""
    path = Path(path)
    recording = parse(path.read_bytes(), str(path))
    return Recording(
        header=recording.header, records=recording.records, path=path,
        torn_tail=recording.torn_tail, exchanges=recording.exchanges,
    )


def iter_exchanges(paths: Iterable[Path | str]) -> Iterator[tuple[Path, Exchange]]:
    for path in paths:
        for exchange in load(path).exchanges:
            yield Path(path), exchange
