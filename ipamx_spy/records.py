"""The records of a recording other than exchanges, as types.

A recording is JSON Lines: a ``header``, then ``exchange`` records and the records here, each
with a ``type``. Writers (the proxy session, ``drive``, ``note``) build these types and store
``to_json()``; the JSON shape (key order included) is the recording format of
``docs/recording-format.md``, unchanged. ``RecordType`` names every ``type`` a writer produces.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .findings import Finding
    from .recording import Exchange

JSON = Any


class RecordType(StrEnum):
    HEADER = "header"
    EXCHANGE = "exchange"
    CLIENT = "client"  # an exchange of ipamx-spy's own client (``status``), not dockerd's
    OPEN = "open"
    CLOSE = "close"
    MARKER = "marker"
    NOTE = "note"
    FAULT = "fault"
    FINDING = "finding"  # a validator finding, recorded as the proxy runs
    UNRECORDABLE = "unrecordable"  # what the writer keeps of a record it could not encode


class SectionSource(StrEnum):
    """Where a section of a recording came from (``infer.Section.source``); the value is the
    word exports write."""

    MARKER = "marker"  # a marker recorded with the calls (``ipamx-spy mark``)
    INFERRED = "inferred"  # inferred from the calls
    UNRECOGNISED = "unrecognised"  # calls no known docker command explains


class AnsweredBy(StrEnum):
    """Who answered an exchange's request (``answered_by`` of an exchange record)."""

    PLUGIN = "plugin"  # relayed from the upstream plugin
    BUILTIN = "builtin"  # ipamx-spy's own reference allocator
    SPY = "spy"  # ipamx-spy answered itself (an error: upstream gave no usable answer, limits)


class Side(StrEnum):
    """Which side caused a fault."""

    PLUGIN = "plugin"  # the upstream plugin misbehaved or is unreachable
    DOCKER = "docker"  # the docker side sent something unusable
    PROXY = "proxy"  # ipamx-spy's own limit or failure


class FaultKind(StrEnum):
    """What went wrong: the word in a fault's ``kind`` (an exchange's ``fault``, a ``fault``
    record). Another word in a file is a clear ``RecordingError``, as for ``Side``."""

    # The plugin gave no usable answer: ``noanswer.NoAnswerKind``'s words (``.fault``).
    UNREACHABLE = "unreachable"  # could not be dialled: nothing was sent
    CLOSED = "closed"  # closed without a complete answer
    TIMEOUT = "timeout"  # no answer in time; the docker side: a request begun, not finished
    MALFORMED = "malformed"  # not HTTP/1.1 (either side)
    TOO_LARGE = "too-large"  # beyond the body limit (either side)
    CRASH = "crash"  # an in-process plugin app, or ipamx-spy's own code, raised
    EXTRA_BYTES = "extra-bytes"  # bytes from the plugin beyond one answer, dropped
    # The docker side sent something unusable.
    TRUNCATED = "truncated"  # the connection closed in the middle of a request
    METHOD = "method"  # a method other than POST (answered 405, never forwarded)
    # ipamx-spy's own failures.
    RECORDING = "recording"  # the exchange could not be recorded
    STOPPING = "stopping"  # a request still waiting when ipamx-spy stopped
    UNENCODABLE = "unencodable"  # a record that could not be stored as it was


@dataclass(frozen=True, kw_only=True)
class HeaderRecord:
    """The first record of a recording: its format and version, the tool, when it started,
    then ``fields`` (name, listen, upstream, docker_version, ...), in the order given."""

    format: str
    version: int
    tool: str
    started: str
    fields: Mapping[str, JSON] = field(default_factory=dict)

    def to_json(self) -> dict[str, JSON]:
        return {"type": RecordType.HEADER.value, "format": self.format, "version": self.version,
                "tool": self.tool, "started": self.started, **self.fields}


@dataclass(frozen=True, kw_only=True)
class OpenRecord:
    """A docker-side connection (or, in ``drive``, the emulator's) opened."""

    conn: int
    t: float
    peer: str

    def to_json(self) -> dict[str, JSON]:
        return {"type": RecordType.OPEN.value, "conn": self.conn, "t": self.t, "peer": self.peer}


@dataclass(frozen=True, kw_only=True)
class CloseRecord:
    """A connection closed; ``unanswered`` are the exchanges it left without an answer."""

    conn: int
    t: float
    reason: str
    unanswered: tuple[int, ...] = ()

    def to_json(self) -> dict[str, JSON]:
        record: dict[str, JSON] = {"type": RecordType.CLOSE.value, "conn": self.conn, "t": self.t,
                                   "reason": self.reason}
        if self.unanswered:
            record["unanswered"] = list(self.unanswered)
        return record


@dataclass(frozen=True, kw_only=True)
class MarkerRecord:
    """A marker (``ipamx-spy mark``, or a scenario step in ``drive``) after exchange
    ``after_seq``."""

    t: float
    text: str
    after_seq: int

    def to_json(self) -> dict[str, JSON]:
        return {"type": RecordType.MARKER.value, "t": self.t, "text": self.text,
                "after_seq": self.after_seq}


@dataclass(frozen=True, kw_only=True)
class NoteRecord:
    """A note on exchange ``seq`` (``ipamx-spy note``), appended to the file."""

    seq: int
    text: str
    t: float

    def to_json(self) -> dict[str, JSON]:
        return {"type": RecordType.NOTE.value, "seq": self.seq, "text": self.text, "t": self.t}


@dataclass(frozen=True, kw_only=True)
class FaultRecord:
    """Bytes that belong to no exchange, or a record that could not be stored as it was.

    ``data`` is the stored body of the bytes (``encode_body``'s form). ``seq`` and
    ``record_type`` are set for a stand-in of an unstorable record (``kind`` ``unencodable``).
    """

    conn: int
    t: float
    side: Side
    kind: FaultKind
    message: str
    data: Mapping[str, JSON] = field(default_factory=dict)
    seq: int | None = None
    record_type: str | None = None

    def to_json(self) -> dict[str, JSON]:
        record: dict[str, JSON] = {"type": RecordType.FAULT.value, "conn": self.conn, "t": self.t,
                                   "side": self.side.value, "kind": self.kind.value}
        if self.record_type is not None:
            record.update(seq=self.seq, record_type=self.record_type)
        record.update(message=self.message, data=dict(self.data))
        return record


@dataclass(frozen=True, kw_only=True)
class FindingRecord:
    """A validator finding the proxy's checking sink made, recorded as it runs."""

    t: float
    finding: Finding

    def to_json(self) -> dict[str, JSON]:
        return {"type": RecordType.FINDING.value, "t": self.t, **self.finding.to_json()}


@dataclass(frozen=True, kw_only=True)
class ClientRecord:
    """An exchange of ipamx-spy's own client (``status``, a scraper naming a ``SpyCall``),
    kept apart from dockerd's: stored as the exchange's record with ``type`` ``client``."""

    exchange: Exchange

    def to_json(self) -> dict[str, JSON]:
        return {**self.exchange.to_json(), "type": RecordType.CLIENT.value}

    @classmethod
    def from_json(cls, data: Mapping[str, JSON]) -> ClientRecord:
        """Raises RecordingError (a ValueError) naming what is wrong, as ``Exchange``'s."""
        from .recording import Exchange, RecordingError

        if data.get("type") != RecordType.CLIENT:
            raise RecordingError(f"not a client record: type {data.get('type')!r:.40}")
        return cls(exchange=Exchange.from_json(dict(data)))


UNRECORDABLE_KEPT = ("seq", "conn", "t", "endpoint")
"""The fields of an unencodable record its stand-in keeps (when they are plain values)."""


@dataclass(frozen=True, kw_only=True)
class UnrecordableRecord:
    """What the writer stores instead of a record it could not encode as JSON: the record's
    ``type`` (``was``), the plain ``seq``/``conn``/``t``/``endpoint`` it had, and why.

    The stored shape is that of ``recording_writer.unrecordable``: ``type`` first when the
    record had a type, then the kept fields, ``was`` and ``reason``."""

    reason: str
    was: str | None = None
    seq: int | None = None
    conn: int | None = None
    t: float | None = None
    endpoint: str | None = None

    def to_json(self) -> dict[str, JSON]:
        record: dict[str, JSON] = {} if self.was is None else {
            "type": RecordType.UNRECORDABLE.value}
        for name in UNRECORDABLE_KEPT:
            if getattr(self, name) is not None:
                record[name] = getattr(self, name)
        record.update(type=RecordType.UNRECORDABLE.value, was=self.was, reason=self.reason)
        return record

    @classmethod
    def from_json(cls, data: Mapping[str, JSON]) -> UnrecordableRecord:
        """Raises RecordingError (a ValueError) when ``data`` is not an unrecordable record."""
        from .recording import RecordingError

        if data.get("type") != RecordType.UNRECORDABLE or not isinstance(data.get("reason"), str):
            raise RecordingError("an unrecordable record needs its type and a reason")
        was = data.get("was")
        return cls(reason=data["reason"], was=None if was is None else str(was),
                   **{name: data[name] for name in UNRECORDABLE_KEPT
                      if data.get(name) is not None})
