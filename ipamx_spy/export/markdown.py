"""Markdown: one section per marker or inferred command, ready to paste into docs.

Each exchange gets a heading, its plain-words annotation (``render.annotation``), its notes and
findings as quotes, and the request and response bodies as fenced JSON. Headers are left out
unless ``--headers`` is given (they are the same for every dockerd call).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator

from ipamx_spy import render
from ipamx_spy.infer import INFERRED, Section
from ipamx_spy.recording import Exchange, Message

from .trace import TraceView, tally

_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")


def escape(text: str) -> str:
    """Prose with Markdown's special characters escaped."""
    return _SPECIAL.sub(r"\\\1", text)


def _intro(trace: TraceView, exchanges: int, sections: int) -> list[str]:
    header = trace.header
    lines = [f"# ipamx-spy trace: {escape(trace.source)}", ""]
    lines.append(f"- recorded: {escape(str(header.get('started', '?')))} "
                 f"with {escape(str(header.get('tool', 'ipamx-spy')))}")
    if trace.hosts:
        lines.append("- merged timeline of hosts: " + ", ".join(f"`{h}`" for h in trace.hosts))
    elif header.get("listen"):
        lines.append(f"- plugin `{header.get('name', '?')}` listening on `{header['listen']}` "
                     f"(upstream: `{header.get('upstream', '?')}`)")
    lines.append(f"- {exchanges} exchanges in {sections} sections; "
                 "a section marked *inferred* was deduced from the calls, the others were "
                 "marked while recording")
    if trace.redacted:
        lines.append("- redacted: " + ", ".join(f"`{r}`" for r in trace.redacted))
    return [*lines, ""]


def _body(message: Message) -> list[str]:
    stored = message.body
    encoding = stored.get("encoding")
    if encoding == "empty":
        return ["*(empty body)*", ""]
    if encoding == "json":
        return ["```json", json.dumps(stored["json"], indent=2, ensure_ascii=False), "```", ""]
    text = str(stored.get("text", "")) if encoding == "text" else (
        f"(binary, base64) {stored.get('base64', '')}")
    return ["```text", text.rstrip("\n"), "```", ""]


def _headers(message: Message) -> list[str]:
    if message.is_request:
        start = f"{message.method} {message.target} HTTP/{message.http_version}"
    else:
        start = f"HTTP/{message.http_version} {message.status} {message.reason}"
    return ["```http", start, *(f"{k}: {v}" for k, v in message.headers), "```", ""]


def _message(label: str, message: Message, trace: TraceView) -> list[str]:
    lines = [label, ""]
    if trace.options.headers:
        lines += _headers(message)
    return lines + (_body(message) if trace.options.bodies else [])


def _status(exchange: Exchange) -> str:
    if exchange.response is None:
        return "no answer"
    return f"{exchange.response.status} {exchange.response.reason}".strip()


def _exchange(exchange: Exchange, trace: TraceView) -> list[str]:
    host = trace.host_of(exchange.seq)
    on = f" on `{host}`" if host else ""
    lines = [f"### #{exchange.seq}{on} `{exchange.endpoint}` → {escape(_status(exchange))}", "",
             f"*t = {exchange.t:.3f} s, {exchange.duration_ms:.1f} ms, connection "
             f"{exchange.conn}*", "", escape(render.annotation(exchange)), ""]
    for note in trace.notes_for(exchange.seq):
        lines += [f"> **Note:** {escape(note)}", ""]
    for finding in trace.findings_for(exchange.seq):
        lines += [f"> **{finding.code} ({finding.severity}):** {escape(finding.message)}", ""]
    lines += _message("Request (docker → plugin):", exchange.request, trace)
    if exchange.response is not None:
        lines += _message(f"Response (plugin → docker), `{_status(exchange)}`:",
                          exchange.response, trace)
    if exchange.fault is not None:
        lines += [f"**Fault ({exchange.fault.side} side, {exchange.fault.kind}):** "
                  f"{escape(exchange.fault.message)}", ""]
    return lines


def _section(number: int, section: Section, trace: TraceView) -> list[str]:
    title = escape(section.title) + (" — failed" if section.failed else "")
    if section.source == INFERRED:
        title += " *(inferred)*"
    lines = [f"## {number}. {title}", ""]
    if section.detail:
        lines += [escape(section.detail), ""]
    if not section.exchanges:
        lines += ["*No plugin calls.*", ""]
    for exchange in section.exchanges:
        lines += _exchange(exchange, trace)
    return lines


def _groups(trace: TraceView) -> Iterator[list[str]]:
    """The document's lines, a section at a time (the intro counts first: a pass of its
    own over a streamed trace)."""
    counted = tally(trace)
    yield _intro(trace, counted.exchanges, counted.sections)
    for number, section in enumerate(trace.sections, 1):
        yield _section(number, section, trace)
    session = [f for f in trace.findings if f.seq == 0]
    if session:
        yield ["## Findings about the whole session", "",
               *(f"- **{f.code} ({f.severity}):** {escape(f.message)}" for f in session), ""]


def joined(groups: Iterable[list[str]]) -> Iterator[str]:
    """``"\\n".join(every line).rstrip("\\n") + "\\n"``, a group of lines at a time: the
    newlines at the end of what came so far are held back until more text follows."""
    pending, first = "", True
    for group in groups:
        if not group:
            continue
        text = ("" if first else "\n") + "\n".join(group)
        first = False
        body = text.rstrip("\n")
        if body:
            yield pending + body
            pending = text[len(body):]
        else:
            pending += text
    yield "\n"


def iter_markdown(trace: TraceView) -> Iterator[str]:
    """The Markdown document in pieces, a section at a time; joined, ``export_markdown``."""
    return joined(_groups(trace))


def export_markdown(trace: TraceView) -> str:
    return "".join(iter_markdown(trace))
