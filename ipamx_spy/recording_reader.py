"""Reading recordings record by record, in constant memory, recovering what is readable.

Theory of operation
-------------------
``RecordingReader`` reads the header line (a file without one is refused with RecordingError),
then yields one checked record at a time. A line that is not a JSON object, or a record that a
reader could not use (a ``response`` stored as a string, an unknown body encoding, a note with a
non-numeric ``seq``, a lone surrogate UTF-8 cannot encode), is skipped and described in
``damage`` (a ``Damage`` names the line and the reason); every record around it is still read.
A last line without its newline is a record whose writer was stopped mid-line (``torn_tail``).
A JSON body nested deeper than ``recording.MAX_DEPTH`` is handed out as text. Older versions
are upgraded record by record through ``UPGRADES``.
"""

from __future__ import annotations

import heapq
import io
import json
import math
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from .dockerd.ledger import AddressRoles
from .recording import (
    FORMAT,
    MAX_DEPTH,
    VERSION,
    Damage,
    Exchange,
    Recording,
    RecordingError,
    attach_address_role,
    check_body,
    header_docker_version,
    json_too_deep,
    loads_line,
    utf8_encodable,
)
from .records import RecordType

Record = dict[str, Any]
Upgrade = Callable[[Record], Record]


def _v1_to_v2(record: Record) -> Record:
    """Version 2 only added readings (``reason`` on bodies, ``omitted`` bodies,
    ``unrecordable`` records): every version-1 record is a version-2 record."""
    return record


EXCHANGE_LINE = b'{"type":"exchange",'
"""How ``recording_writer.encode_line`` begins every exchange record."""

# version N -> function that turns a version-N record into a version-(N+1) record.
UPGRADES: dict[int, Upgrade] = {1: _v1_to_v2}


class RecordingReader:
    """One recording, read record by record. Iterate for ``(record, exchange or None)``.

    Raises RecordingError on construction when the file is not a usable recording (empty, no
    header, a version this ipamx-spy cannot read); OSError when it cannot be opened.
    """

    def __init__(self, source: Path | str | IO[bytes], name: str | None = None) -> None:
        if isinstance(source, str | Path):
            self.path: Path | None = Path(source)
            self._file: IO[bytes] = open(self.path, "rb")  # noqa: SIM115
        else:
            self.path = None
            self._file = source
        self.source = name or (str(self.path) if self.path else "<recording>")
        self.damage: list[Damage] = []
        self.torn_tail = False
        self._line = 0
        try:
            self.header = self._read_header()
        except BaseException:
            self.close()
            raise
        self.version = int(self.header["version"])
        self.docker_version = header_docker_version(self.header)  # each exchange carries it
        self._host_versions = _host_versions(self.header)  # a merge's: its hosts' own
        self._roles: dict[object, AddressRoles] = {}  # per host: what each release gives back
        # The numbers used so far (``in_seq_order``); a merge's hosts each number their own.
        self.numbering = None if "merged" in self.header else Numbering(2 * REORDER_SLACK)

    def _read_header(self) -> Record:
        first = self._file.readline()
        self._line = 1
        if not first.strip():
            if not first:
                raise RecordingError(f"{self.source}: the file is empty, not a recording")
            raise RecordingError(f"{self.source}: not an ipamx-spy recording (the first line "
                                 "is empty, not its header)")
        try:
            header = json.loads(first)
        except (ValueError, RecursionError):
            header = None
        if not isinstance(header, dict) or header.get("type") != RecordType.HEADER \
                or header.get("format") != FORMAT:
            if not first.endswith(b"\n") and first.startswith(b'{"type":"header"'):
                raise RecordingError(f"{self.source}: the header line is incomplete (the file "
                                     "was cut short); not a usable recording")
            raise RecordingError(f"{self.source}: not an ipamx-spy recording (the first line "
                                 "is not its header)")
        version = header.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise RecordingError(f"{self.source}: bad recording format version {version!r} "
                                 "in the header (expected a whole number from 1)")
        if version > VERSION:
            raise RecordingError(
                f"{self.source}: recording format version {version} is newer than this "
                f"ipamx-spy understands ({VERSION}); upgrade ipamx-spy")
        if not utf8_encodable(header) \
                and not json_too_deep(header):
            header = dict(_escaped(header))  # every reader writes the header out somewhere
        return header

    def __iter__(self) -> Iterator[tuple[Record, Exchange | None]]:
        for line in self._file:
            self._line += 1
            if line.isspace():  # a blank line (isspace copies nothing, strip copies the line)
                continue
            item = self._record(line)
            if item is not None:
                yield item

    def others(self) -> Iterator[Record]:
        """Every record but the exchanges, for a pass that wants only connection records,
        markers or notes: a line that starts as the writer starts every exchange record is
        skipped unparsed (an exchange line written otherwise is parsed and left out), so
        such a pass costs a scan of the file. Damage is described only for the lines parsed:
        read the file with ``__iter__`` once to hear of all of it."""
        for line in self._file:
            self._line += 1
            if line.startswith(EXCHANGE_LINE) or line.isspace():
                continue
            item = self._record(line)
            if item is not None and item[1] is None:
                yield item[0]

    def records(self) -> Iterator[Record]:
        for record, _ in self:
            yield record

    def exchanges(self) -> NumberedExchanges:
        """The exchanges, with the reader's ``numbering`` for ``in_seq_order``."""
        return NumberedExchanges((exchange for _, exchange in self if exchange is not None),
                                 self.numbering)

    def _record(self, line: bytes) -> tuple[Record, Exchange | None] | None:
        try:
            record = loads_line(line)
        except RecursionError:
            return self._skip(line, "a record nested too deep to read")
        except ValueError as exc:
            return self._skip(line, f"not a JSON record ({exc})")
        if not isinstance(record, dict):
            return self._skip(line, "not a record (a record is a JSON object)")
        # \xed: a surrogate's bytes, which json takes. Most lines are ASCII without a
        # backslash: isascii and a find of one byte (memchr) are a quarter of the cost of
        # ``in`` for \xed and for \u
        if ((not line.isascii() and line.find(b"\xed") >= 0)
                or (line.find(b"\\") >= 0 and (b"\\ud" in line or b"\\uD" in line))) \
                and not utf8_encodable(record):
            return self._skip(line, "holds a lone surrogate escape that UTF-8 cannot encode")
        record = _upgrade(record, self.version)
        deep = line.count(b"[") + line.count(b"{") > MAX_DEPTH
        try:
            host = record.get("host")
            version = self._host_versions.get(host, self.docker_version) \
                if self._host_versions and isinstance(host, str) else self.docker_version
            item = checked(record, maybe_deep=deep, docker_version=version)
        except RecordingError as exc:
            kind = record.get("type")
            what = f"{kind} record" if isinstance(kind, str) else "record"
            return self._skip(line, f"unusable {what} ({exc})")
        numbering = self.numbering
        if item[1] is None:
            if numbering is not None:
                for seq in _record_seqs(item[0]):
                    numbering.take(seq, exchange=False)
            return item
        if numbering is not None:
            numbering.take(item[1].seq)
        key = host if isinstance(host, str) else None
        roles = self._roles.get(key)
        if roles is None:
            roles = self._roles[key] = AddressRoles()
        return item[0], attach_address_role(roles, item[1])  # built here: set in place

    def _skip(self, line: bytes, reason: str) -> tuple[Record, Exchange | None] | None:
        torn = not line.endswith(b"\n")
        if torn:
            self.torn_tail = True
            reason = "incomplete last record (the writer was stopped mid-line)"
        self.damage.append(Damage(source=self.source, line=self._line, reason=reason, torn=torn))
        return None

    def close(self) -> None:
        if self.path is not None:
            self._file.close()

    def __enter__(self) -> RecordingReader:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _escaped(value: Any) -> Any:
    """``value`` with every lone surrogate (a ``\\udXXX`` escape no UTF-8 can hold) written
    out as the text of its escape, so that a header that holds one can still be shown and
    written (an export carries the header) instead of failing the reader that writes it."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list):
        return [_escaped(item) for item in value]
    if isinstance(value, dict):
        return {_escaped(key): _escaped(item) for key, item in value.items()}
    return value


def _upgrade(record: Record, version: int) -> Record:
    while version < VERSION:
        record = UPGRADES[version](record)
        version += 1
    return record


def _check_fields(record: Record, ints: Iterable[str], texts: Iterable[str]) -> None:
    t = record.get("t", 0.0)
    if type(t) is float and -1e12 <= t <= 1e12:  # the common case, first: every record has
        pass  # its time; NaN fails the comparisons
    elif not isinstance(t, int | float) or isinstance(t, bool) or not math.isfinite(t) \
            or abs(t) > 1e12:
        raise RecordingError(f"t must be a number of seconds, not {t!r:.40}")
    for key in ints:
        value = record.get(key)
        if not isinstance(value, int) or isinstance(value, bool):
            raise RecordingError(f"{key} must be a whole number, not {value!r:.40}")
    for key in texts:
        if not isinstance(record.get(key), str):
            raise RecordingError(f"{key} must be a string, not {record.get(key)!r:.40}")


CHECKS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # type: (whole-number fields, string fields) every reader may rely on
    RecordType.NOTE: (("seq",), ("text",)),
    RecordType.MARKER: ((), ("text",)),
    RecordType.OPEN: (("conn",), ()),
    RecordType.CLOSE: (("conn",), ()),
    RecordType.FAULT: ((), ("side", "kind", "message")),
}


def _host_versions(header: Record) -> dict[str, str | None]:
    """A merged recording's ``docker_version`` per host (its header's ``merged`` entries):
    each host's exchanges are read as that host's daemon."""
    merged = header.get("merged")
    if not isinstance(merged, list):
        return {}
    return {m["host"]: header_docker_version(m) for m in merged
            if isinstance(m, dict) and isinstance(m.get("host"), str)}


def checked(record: Record, *, maybe_deep: bool = True,
            docker_version: str | None = None) -> tuple[Record, Exchange | None]:
    """A record made safe for every reader, and its exchange (``docker_version``: the
    recording header's). Raises RecordingError."""
    kind = record.get("type")
    if not isinstance(kind, str):
        raise RecordingError("no record type")
    if kind == RecordType.EXCHANGE:
        _check_fields(record, (), ())
        exchange = Exchange.from_json(record, maybe_deep=maybe_deep,
                                      docker_version=docker_version)
        if maybe_deep:
            record = {**record, "request": exchange.request.to_json(),
                      "response": None if exchange.response is None
                      else exchange.response.to_json()}
        return record, exchange
    ints, texts = CHECKS.get(kind, ((), ()))
    _check_fields(record, ints, texts)
    if kind == RecordType.MARKER and not isinstance(record.get("after_seq", 0), int):
        raise RecordingError("after_seq must be a whole number")
    if kind == RecordType.CLOSE and not (isinstance(record.get("unanswered", []), list) and all(
            isinstance(s, int) for s in record.get("unanswered", []))):
        raise RecordingError("unanswered must be a list of exchange numbers")
    if kind == RecordType.FAULT and "data" in record:
        record = {**record, "data": check_body(record["data"], maybe_deep=maybe_deep)}
    return record, None


# -- number order ---------------------------------------------------------------------------


REORDER_SLACK = 1024
"""How far out of number order ``in_seq_order`` puts exchanges back: a recording holds each
exchange when its answer came, so concurrent calls finish out of order, but never by more than
the calls that were in flight at once."""


class Numbering:
    """Which exchange numbers a single session's recording has used so far, as its reader
    reads it: every number from ``FIRST_SEQ`` below ``next`` is taken (by an exchange, a
    ``client`` record, an ``unrecordable`` one, or a close record's ``unanswered``), and
    ``ahead`` holds the numbers taken above it. An exchange's number never comes twice in
    such a file (the session hands each out once), so ``SeqOrder`` can hand out at once an
    exchange whose number is below ``next``: nothing numbered lower can still come.

    ``broken`` once the file breaks that rule (an exchange numbered as one read before, or
    below ``FIRST_SEQ``, where every writer starts) or once more than ``limit`` numbers wait
    above a missing one (a line damaged or never written): from then on ``SeqOrder`` holds its
    whole window, as it always did. The order is the window's on every file that numbers each
    exchange once from ``FIRST_SEQ`` (every writer's); in a file that breaks the rule (edited
    by hand) the exchange that breaks it may come out later than the window put it."""

    def __init__(self, limit: int) -> None:
        self.next = FIRST_SEQ
        self.ahead: set[int] = set()
        self.limit = limit
        self.broken = False

    def take(self, seq: int, *, exchange: bool = True) -> None:
        """Number ``seq`` is used by the record just read (``exchange``: by an exchange, whose
        number must be new; another record's may repeat one, which changes nothing)."""
        if self.broken:
            return
        if seq < self.next or seq in self.ahead:
            if exchange:
                self._give_up()
            return
        if seq != self.next:
            self.ahead.add(seq)
            if len(self.ahead) > self.limit:
                self._give_up()
            return
        self.next += 1
        ahead = self.ahead
        while ahead and self.next in ahead:
            ahead.discard(self.next)
            self.next += 1

    def _give_up(self) -> None:
        self.broken = True
        self.ahead = set()


FIRST_SEQ = 1
"""The number of a session's first exchange (``proxy.ProxySession``, the emulator)."""


def _record_seqs(record: Record) -> Iterator[int]:
    """The exchange numbers a record other than an exchange uses up."""
    kind = record.get("type")
    if kind == RecordType.CLOSE:
        yield from record.get("unanswered", ())
    elif kind in (RecordType.CLIENT, RecordType.UNRECORDABLE):
        seq = record.get("seq")
        if isinstance(seq, int) and not isinstance(seq, bool):
            yield seq


class NumberedExchanges(Iterator[Exchange]):
    """``RecordingReader.exchanges()``: the exchanges, and the reader's ``numbering`` (None
    for a merge of several hosts' files, whose numbers repeat), which ``in_seq_order`` reads
    to hand each exchange out as soon as no lower number can still come."""

    def __init__(self, exchanges: Iterator[Exchange], numbering: Numbering | None) -> None:
        self._exchanges = exchanges
        self.numbering = numbering

    def __next__(self) -> Exchange:
        return next(self._exchanges)


class SeqOrder:
    """``in_seq_order`` fed one exchange at a time (``push``), then ``drain``-ed.

    With a ``numbering`` (the reader's, which has counted the pushed exchange's number and
    every record before it) an exchange is handed out as soon as its number is below
    ``numbering.next``, so only the exchanges that came out of order are held. The order is
    exactly the one without: such an exchange is the lowest of all that can still come, which
    is what the window hands out first, only later."""

    def __init__(self, slack: int, numbering: Numbering | None = None) -> None:
        self.heap: list[tuple[int, int, Exchange]] = []
        self.slack = slack
        self.count = 0
        self.numbering = numbering

    def push(self, exchange: Exchange) -> list[Exchange]:
        item = (exchange.seq, self.count, exchange)
        self.count += 1
        heap = self.heap
        numbering = self.numbering
        if numbering is not None and not numbering.broken and exchange.seq < numbering.next:
            if not heap:
                return [exchange]  # in order: the common case, never held
            if item < heap[0]:
                return [exchange, *self._below(numbering.next)]
        if len(heap) < self.slack:
            heapq.heappush(heap, item)
            out: list[Exchange] = []
        else:
            out = [heapq.heappushpop(heap, item)[2]]  # push, then the first out: one sift
        if numbering is not None and not numbering.broken:
            out += self._below(numbering.next)
        return out

    def _below(self, seq: int) -> list[Exchange]:
        out = []
        heap = self.heap
        while heap and heap[0][0] < seq:
            out.append(heapq.heappop(heap)[2])
        return out

    def drain(self) -> Iterator[Exchange]:
        while self.heap:
            yield heapq.heappop(self.heap)[2]


def in_seq_order(exchanges: Iterable[Exchange], slack: int = REORDER_SLACK) -> Iterator[Exchange]:
    """The exchanges by number, holding at most ``slack`` of them (``sorted`` in bounded
    memory; equal numbers keep their order, as ``sorted`` does). An exchange that comes more
    than ``slack`` places late is handed out when it comes, out of order, never dropped.

    Given ``RecordingReader.exchanges()`` (a ``NumberedExchanges``) of one session's file, it
    holds only the exchanges that came out of order (``SeqOrder``), in the same order."""
    order = SeqOrder(slack, getattr(exchanges, "numbering", None))
    for exchange in exchanges:
        yield from order.push(exchange)
    yield from order.drain()


def read_header(path: Path | str) -> Record:
    """The header record of a recording; RecordingError if the file is not a recording."""
    with RecordingReader(path) as reader:
        return reader.header


def _collect(reader: RecordingReader, path: Path | None) -> Recording:
    records: list[Record] = []
    exchanges: list[Exchange] = []
    for record, exchange in reader:
        records.append(record)
        if exchange is not None:
            exchanges.append(exchange)
    return Recording(header=reader.header, records=tuple(records), path=path,
                     torn_tail=reader.torn_tail, exchanges=tuple(exchanges),
                     damage=tuple(reader.damage))


def parse(data: bytes, source: str = "<recording>") -> Recording:
    """Parse a recording from bytes. Raises RecordingError (a ValueError) when unusable;
    damaged lines are skipped and listed in ``Recording.damage``."""
    return _collect(RecordingReader(io.BytesIO(data), source), None)


def load(path: Path | str) -> Recording:
    """Read a recording file whole. Raises OSError or RecordingError; damaged lines are
    skipped and listed in ``Recording.damage`` (show them to the user)."""
    path = Path(path)
    with RecordingReader(path) as reader:
        return _collect(reader, path)


def iter_exchanges(paths: Iterable[Path | str]) -> Iterator[tuple[Path, Exchange]]:
    """Every exchange of every file, streamed. Raises OSError or RecordingError."""
    for path in paths:
        with RecordingReader(path) as reader:
            for exchange in reader.exchanges():
                yield Path(path), exchange


def problem_text(path: Path | str, exc: BaseException, what: str = "recording") -> str:
    """One sentence for a recording that cannot be read, naming the file once.

    The same words for the same trouble in every command: a missing file, a directory, a file
    that is not a recording (RecordingError's own text), permissions.
    """
    if isinstance(exc, RecordingError):
        return str(exc)
    if isinstance(exc, FileNotFoundError):
        return f"{path}: no such file"
    if isinstance(exc, IsADirectoryError):
        return f"{path}: is a directory, not a {what} file"
    if isinstance(exc, PermissionError):
        return f"{path}: permission denied (run as a user who may read it)"
    if isinstance(exc, OSError):
        return f"{path}: cannot read it ({exc.strerror or exc})"
    return f"{path}: {exc}"
