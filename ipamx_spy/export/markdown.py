"""Markdown: one section per marker or inferred command, ready to paste into docs.

Each exchange gets a heading, its plain-words annotation (``render.annotation``), its notes and
findings as quotes, and the request and response bodies as fenced JSON. Headers are left out
unless ``--headers`` is given (they are the same for every dockerd call).
"""

from __future__ import annotations

import json
import re

from ipamx_spy import render
from ipamx_spy.infer import INFERRED, Section
from ipamx_spy.recording import Exchange, Message

from .trace import Trace

_SPECIAL = re.compile(r"([\\`*_\[\]<>|])")


def escape(text: str) -> str:
    """Prose with Markdown's special characters escaped."""
    return _SPECIAL.sub(r"\\\1", text)


def _intro(trace: Trace) -> list[str]:
    header = trace.header
    lines = [f"# ipamx-spy trace: {escape(trace.source)}", ""]
    lines.append(f"- recorded: {escape(str(header.get('started', '?')))} "
                 f"with {escape(str(header.get('tool', 'ipamx-spy')))}")
    if trace.hosts:
        lines.append("- merged timeline of hosts: " + ", ".join(f"`{h}`" for h in trace.hosts))
    elif header.get("listen"):
        lines.append(f"- plugin `{header.get('name', '?')}` listening on `{header['listen']}` "
                     f"(upstream: `{header.get('upstream', '?')}`)")
    lines.append(f"- {len(trace.exchanges)} exchanges in {len(trace.sections)} sections; "
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


def _message(label: str, message: Message, trace: Trace) -> list[str]:
    lines = [label, ""]
    if trace.options.headers:
        lines += _headers(message)
    return lines + (_body(message) if trace.options.bodies else [])


def _status(exchange: Exchange) -> str:
    if exchange.response is None:
        return "no answer"
    return f"{exchange.response.status} {exchange.response.reason}".strip()


def _exchange(exchange: Exchange, trace: Trace) -> list[str]:
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


def _section(number: int, section: Section, trace: Trace) -> list[str]:
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


def export_markdown(trace: Trace) -> str:
    lines = _intro(trace)
    for number, section in enumerate(trace.sections, 1):
        lines += _section(number, section, trace)
    session = [f for f in trace.findings if f.seq == 0]
    if session:
        lines += ["## Findings about the whole session", ""]
        lines += [f"- **{f.code} ({f.severity}):** {escape(f.message)}" for f in session]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
