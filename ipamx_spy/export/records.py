"""JSON: the trace as one document of normalized records, for scripts (``jq``, Python).

Normalized means: bodies decoded to their JSON value (or text), each exchange carrying its
annotation, the error dockerd sees (``problem``), its notes, findings and section number, and
the sections with their titles and whether they were inferred. The shape is versioned
(``format``/``version``) separately from the recording format.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from ipamx_spy import render
from ipamx_spy.infer import Section
from ipamx_spy.recording import Exchange, Message

from .trace import TraceView

FORMAT = "ipamx-spy-export"
VERSION = 1


def message_json(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if message.is_request:
        out.update(method=message.method, target=message.target)
    else:
        out.update(status=message.status, reason=message.reason)
    out.update(http_version=message.http_version, headers=[list(h) for h in message.headers],
               body_encoding=message.body.get("encoding"), body=message.value)
    return out


def exchange_json(exchange: Exchange, section: int, trace: TraceView) -> dict[str, Any]:
    return {
        "seq": exchange.seq, "conn": exchange.conn, "t": exchange.t,
        "endpoint": exchange.endpoint, "section": section,
        "status": exchange.status, "duration_ms": exchange.duration_ms,
        "upstream_ms": exchange.upstream_ms, "answered_by": exchange.answered_by,
        "annotation": render.annotation(exchange), "problem": render.problem(exchange),
        "notes": list(trace.notes_for(exchange.seq)),
        "findings": [f.to_json() for f in trace.findings_for(exchange.seq)],
        "request": message_json(exchange.request),
        "response": None if exchange.response is None else message_json(exchange.response),
        "fault": None if exchange.fault is None else exchange.fault.to_json(),
    }


def section_json(number: int, section: Section) -> dict[str, Any]:
    return {"number": number, "title": section.title, "heading": section.heading,
            "source": section.source, "t": section.t, "detail": section.detail,
            "failed": section.failed, "seqs": list(section.seqs)}


def _dumped(value: Any, indent: str) -> str:
    """``value`` as ``json.dumps(..., indent=2)`` lays it out at this depth of a document."""
    return json.dumps(value, indent=2, ensure_ascii=False).replace("\n", "\n" + indent)


def member(key: str, value: Any, depth: int = 1) -> str:
    """``"key": value`` of an object ``depth`` containers deep, as ``json.dumps(...,
    indent=2)`` writes it (no comma, no newline)."""
    indent = "  " * depth
    return f"{indent}{json.dumps(key, ensure_ascii=False)}: {_dumped(value, indent)}"


def array(key: str, items: Iterable[Any], depth: int = 1) -> Iterator[str]:
    """A member whose value is a list, an item at a time: the text ``json.dumps(...,
    indent=2)`` makes of it ``depth`` containers deep (no comma, no newline after it)."""
    indent, inner = "  " * depth, "  " * (depth + 1)
    yield f"{indent}{json.dumps(key, ensure_ascii=False)}: ["
    empty = True
    for item in items:
        yield ("\n" if empty else ",\n") + inner + _dumped(item, inner)
        empty = False
    yield "]" if empty else f"\n{indent}]"


def iter_json(trace: TraceView) -> Iterator[str]:
    """The JSON document in pieces, as it is made: a section or an exchange at a time (the
    sections are read once for their list and once more for the exchanges), so a streamed
    trace is written in bounded memory. The pieces joined are ``export_json``'s text."""
    yield "{\n"
    for key, value in (("format", FORMAT), ("version", VERSION), ("source", trace.source),
                       ("header", dict(trace.header)), ("redacted", list(trace.redacted))):
        yield member(key, value) + ",\n"
    yield from array("sections", (section_json(n, s) for n, s in enumerate(trace.sections, 1)))
    yield ",\n"
    yield from array("exchanges", (exchange_json(e, n, trace)
                                    for n, s in enumerate(trace.sections, 1)
                                    for e in s.exchanges))
    yield ",\n"
    yield from array("markers", (dict(m) for m in trace.markers))
    yield ",\n"
    yield from array("notes", (dict(n) for n in trace.note_records))
    yield ",\n"
    yield from array("events", (dict(e) for e in trace.events))
    yield ",\n"
    yield from array("findings", (f.to_json() for f in trace.findings))
    yield "\n}\n"


def export_json(trace: TraceView) -> str:
    return "".join(iter_json(trace))
