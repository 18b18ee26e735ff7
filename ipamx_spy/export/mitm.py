"""mitmproxy flow files: ``mitmproxy -r``, ``mitmweb -r`` and ``mitmdump -r`` open the session.

Every exchange becomes an HTTP flow (``ipamx_spy.mitm.flowstate`` lays it out, without
mitmproxy); this module adds what the session knows about it:

- the **comment**: the plain-words sentence, what dockerd makes of a failure, the validator's
  findings, the section that starts with this exchange, and the notes (``note: …`` lines);
- the **marker**: ``:x:`` for a call that fails the docker command (or got no answer),
  ``:warning:`` for a failure dockerd only logs, ``:bookmark:`` for the first call after an
  ``ipamx-spy mark``; mitmproxy's ``~marked`` finds them;
- the **metadata** ``ipamx-spy``: the exchange's own record, its connection, section, host,
  plugin and verdict, its findings and notes, the recording's header and the recording's other
  records (markers, connection events) before it, so that the addon can write the recording
  back (``ipamx_spy/mitm_addon.py``).

The export is streamed: ``iter_mitm`` yields one flow at a time, ready to be written.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from ipamx_spy import render
from ipamx_spy.infer import MARKER, Section
from ipamx_spy.mitm import flowstate as fs
from ipamx_spy.mitm.tnetstring import dumps
from ipamx_spy.recording import Exchange
from ipamx_spy.records import RecordType

from .trace import TraceView

FAILED, LOGGED, BOOKMARK = ":x:", ":warning:", ":bookmark:"
SUCCESS, FAILURE, LOGGED_ONLY = "success", "failure", "logged"


def verdict(exchange: Exchange) -> dict[str, Any]:
    """What dockerd makes of the answer: ``success``, ``failure`` or ``logged``, and the error."""
    problem = render.problem(exchange)
    if problem is None:
        return {"outcome": SUCCESS, "problem": None}
    return {"outcome": LOGGED_ONLY if render.only_logged(exchange) else FAILURE,
            "problem": problem}


def _comment(exchange: Exchange, trace: TraceView, section: str | None,
             outcome: Mapping[str, Any]) -> str:
    lines = [render.annotation(exchange)]
    if outcome["outcome"] == FAILURE:
        lines.append(f"dockerd fails the command: {outcome['problem']}")
    elif outcome["outcome"] == LOGGED_ONLY:
        lines.append(f"dockerd only logs the error: {outcome['problem']}")
    lines += [f"{f.code} {f.severity}: {f.message}" for f in trace.findings_for(exchange.seq)]
    if section is not None:
        lines.append(section)
    lines += [fs.NOTE_PREFIX + note for note in trace.notes_for(exchange.seq)]
    return "\n".join(lines)


def _marker(outcome: Mapping[str, Any], opens_marked_section: bool) -> str:
    if outcome["outcome"] == FAILURE:
        return FAILED
    if outcome["outcome"] == LOGGED_ONLY:
        return LOGGED
    return BOOKMARK if opens_marked_section else ""


class _Layout:
    """Connections and the records between exchanges, for one trace: one pass over its
    connection records (their times: a few per connection), then its sections as they come."""

    def __init__(self, trace: TraceView) -> None:
        self.trace = trace
        self.started = trace.at(0.0).timestamp()
        self.key = f"{trace.source}:{trace.header.get('started', '')}"
        self.peers = fs.Peers(listen=str(trace.header.get("listen", "")),
                              upstream=str(trace.header.get("upstream", "")))
        self.opened: dict[int, float] = {}
        self.closed: dict[int, float] = {}
        events = []
        for event in trace.events:
            events.append(dict(event))
            times = self.opened if event.get("type") == RecordType.OPEN else (
                self.closed if event.get("type") == RecordType.CLOSE else None)
            if times is not None and "conn" in event:
                times.setdefault(int(event["conn"]), float(event.get("t", 0.0)))
        self.pending = sorted([*(dict(m) for m in trace.markers), *events],
                              key=lambda r: float(r.get("t", 0.0)))
        self.notes: dict[int, list[tuple[int, Mapping[str, Any]]]] = {}
        for order, note in enumerate(trace.note_records):
            self.notes.setdefault(int(note.get("seq", 0)), []).append((order, note))

    def connection(self, exchange: Exchange) -> fs.Connection:
        opened = self.opened.get(exchange.conn, exchange.t)
        closed = self.closed.get(exchange.conn)
        return fs.Connection(key=self.key, number=exchange.conn, opened=self.started + opened,
                             closed=None if closed is None else self.started + closed)

    def records_before(self, exchange: Exchange) -> list[dict[str, Any]]:
        """The markers and connection events that come before this exchange in the recording."""
        def before(record: Mapping[str, Any]) -> bool:
            if record.get("type") == RecordType.MARKER:
                return int(record.get("after_seq", 0)) < exchange.seq
            # an exchange is written when its answer went out: events until then come first
            return float(record.get("t", 0.0)) <= exchange.t + exchange.duration_ms / 1000

        taken = [r for r in self.pending if before(r)]
        if taken:
            self.pending = [r for r in self.pending if not before(r)]
        return taken


def _section_meta(number: int, section: Section, first: bool) -> dict[str, Any]:
    return {"number": number, "title": section.title, "heading": section.heading,
            "source": section.source, "t": section.t, "detail": section.detail,
            "failed": section.failed, "first": first}


def _section_line(number: int, section: Section) -> str:
    detail = f": {section.detail}" if section.detail else ""
    return f"section {number}: {section.heading}{detail}"


def _metadata(exchange: Exchange, layout: _Layout, outcome: Mapping[str, Any],
              section: dict[str, Any], before: Sequence[Mapping[str, Any]],
              after: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    trace = layout.trace
    own = {k: v for k, v in exchange.to_json().items() if k not in ("request", "response")}
    connection = {"number": exchange.conn, "opened_t": layout.opened.get(exchange.conn),
                  "closed_t": layout.closed.get(exchange.conn), "listen": layout.peers.listen,
                  "upstream": layout.peers.upstream}
    notes = layout.notes.get(exchange.seq, [])
    role = exchange.address_role
    return {fs.ROLE_META: role.value if role is not None else "", fs.META: {
        "format": fs.META_FORMAT, "source": trace.source, "exchange": own,
        "connection": connection, "section": section,
        "host": trace.host_of(exchange.seq) or trace.header.get("host"),
        "plugin": trace.header.get("name"),
        "verdict": dict(outcome), "sentence": render.annotation(exchange),
        "findings": [f.to_json() for f in trace.findings_for(exchange.seq)],
        "notes": [{"text": str(r.get("text", "")), "t": r.get("t"), "order": n}
                  for n, r in notes],
        "recording": dict(trace.header), "records_before": list(before),
        "records_after": list(after),
    }}


def _placed(trace: TraceView) -> Iterator[tuple[int, Section, int, Exchange, bool]]:
    """(section number, section, place in it, exchange, whether it is the trace's last), as
    the sections come (one exchange held back to know the last)."""
    held: tuple[int, Section, int, Exchange] | None = None
    for number, section in enumerate(trace.sections, 1):
        for place, exchange in enumerate(section.exchanges):
            if held is not None:
                yield (*held, False)
            held = (number, section, place, exchange)
    if held is not None:
        yield (*held, True)


def flow_states(trace: TraceView) -> Iterator[dict[str, Any]]:
    """The mitmproxy state of every exchange of the trace, one at a time, as its section is
    read."""
    layout = _Layout(trace)
    for number, section, place, exchange, last in _placed(trace):
        outcome = verdict(exchange)
        before = layout.records_before(exchange)
        after = layout.pending if last else []
        meta = _section_meta(number, section, place == 0)
        opens_marked = place == 0 and section.source == MARKER
        annotations = fs.Annotations(
            comment=_comment(exchange, trace, _section_line(number, section) if place == 0
                             else None, outcome),
            marked=_marker(outcome, opens_marked),
            error=outcome["problem"] if exchange.response is None else None,
            metadata=_metadata(exchange, layout, outcome, meta, before, after))
        yield fs.flow_state(exchange, started=layout.started,
                            connection=layout.connection(exchange), peers=layout.peers,
                            annotations=annotations)


def iter_mitm(trace: TraceView) -> Iterator[bytes]:
    """The flow file, one flow (a typed netstring) at a time."""
    for state in flow_states(trace):
        yield dumps(state)


def export_mitm(trace: TraceView) -> bytes:
    return b"".join(iter_mitm(trace))
