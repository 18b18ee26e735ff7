"""Mermaid: a ``sequenceDiagram`` of the session, for docs that render Mermaid (GitHub, GitLab).

Participants are the docker CLI, dockerd, ipamx-spy and the plugin. Each marker or inferred
command is an arrow from the CLI to dockerd with a note over everything; each exchange is four
arrows (dockerd to ipamx-spy to the plugin and back) labelled with the request's and answer's
key values; notes of an exchange are notes right of the plugin. Message texts are escaped with
Mermaid's entity codes: ``#59;`` for ``;`` (it ends a statement), ``#35;`` for ``#`` (the
sequence-diagram lexer takes it as the start of a comment: ``#1`` would vanish), ``#lt;`` ...
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from ipamx_spy import render
from ipamx_spy.infer import INFERRED, Section
from ipamx_spy.recording import Exchange
from ipamx_spy.records import AnsweredBy, Side

from .trace import TraceView

PARTICIPANTS = (("cli", "docker CLI"), ("dockerd", "dockerd"), ("spy", "ipamx-spy"),
                ("plugin", "plugin"))
MAX_LABEL = 72
MAX_VALUE = 28
_ENTITIES = {"#": "#35;", ";": "#59;", "<": "#lt;", ">": "#gt;", "%": "#37;", "\n": " ",
             "\r": " ", "{": "#123;", "}": "#125;"}


def text(value: str, limit: int = MAX_LABEL) -> str:
    """``value`` shortened to ``limit`` characters and made safe for a Mermaid label."""
    if len(value) > limit:
        value = value[: limit - 1] + "…"
    return "".join(_ENTITIES.get(char, char) for char in value).strip() or "-"


def _short(value: Any) -> str:
    shown = value if isinstance(value, str) else json.dumps(value)
    return shown if len(shown) <= MAX_VALUE else shown[: MAX_VALUE - 1] + "…"


def summary(body: Any) -> str:
    """The non-empty scalar values of a JSON object, ``Key=value`` separated by spaces."""
    if not isinstance(body, Mapping):
        return "" if body is None else _short(body)
    parts = [f"{k}={_short(_flat(v))}" for k, v in body.items()
             if v not in (None, "", {}, []) and _flat(v) is not None]
    return " ".join(parts)


def _flat(value: Any) -> Any:
    """Scalars as they are, a list of scalars as ``a,b``; None for anything nested."""
    if isinstance(value, list):
        if all(not isinstance(v, Mapping | list) for v in value):
            return ",".join(v if isinstance(v, str) else json.dumps(v) for v in value)
        return None
    return None if isinstance(value, Mapping) else value


def _request_label(exchange: Exchange) -> str:
    method = exchange.endpoint.split(".", 1)[-1]
    args = summary(exchange.request.value)
    return f"#{exchange.seq} {method}" + (f" {args}" if args else "")


def _answer_label(exchange: Exchange) -> str:
    problem = render.problem(exchange)
    if problem is not None or exchange.response is None:
        return f"failed: {problem}"
    return f"{exchange.response.status} {summary(exchange.response.value)}".strip()


def _relay(exchange: Exchange) -> Iterator[str]:
    fault = exchange.fault
    if exchange.answered_by == AnsweredBy.SPY and (fault is None or fault.side != Side.PLUGIN):
        yield f"    Note over spy: {text('answered by ipamx-spy itself')}"
        return
    yield f"    spy->>plugin: {text(exchange.endpoint)}"
    if fault is not None and fault.side == Side.PLUGIN:
        yield f"    plugin--xspy: {text(fault.message)}"
    elif exchange.response is not None:
        yield f"    plugin-->>spy: {text(str(exchange.response.status))}"


def _exchange(exchange: Exchange, notes: tuple[str, ...]) -> Iterator[str]:
    yield f"    dockerd->>spy: {text(_request_label(exchange))}"
    yield from _relay(exchange)
    arrow = "--x" if render.problem(exchange) is not None else "-->>"
    yield f"    spy{arrow}dockerd: {text(_answer_label(exchange))}"
    for note in notes:
        yield f"    Note right of plugin: {text('note: ' + note, 2 * MAX_LABEL)}"


def _section(section: Section, trace: TraceView) -> Iterator[str]:
    title = section.title + (" (failed)" if section.failed else "")
    yield f"    cli->>dockerd: {text(title)}"
    where = "inferred from the calls" if section.source == INFERRED else "marked while recording"
    about = f"{title}: {section.detail}" if section.detail else title
    yield f"    Note over cli,plugin: {text(about, 2 * MAX_LABEL)} ({where})"
    if not section.exchanges:
        yield f"    Note over dockerd,plugin: {text('no plugin calls')}"
    for exchange in section.exchanges:
        yield from _exchange(exchange, trace.notes_for(exchange.seq))


def _lane_of(section: Section, trace: TraceView) -> int:
    """The lane (host index) of a section of a merged trace."""
    if section.exchanges:
        host = trace.host_of(section.exchanges[0].seq)
    else:
        host = next((h for h in trace.hosts if section.title.startswith(f"{h}: ")), None)
    return trace.hosts.index(host) if host in trace.hosts else 0


def _lane_section(section: Section, trace: TraceView) -> Iterator[str]:
    """A merged trace: each host is its own dockerd and its own spy-and-plugin participant."""
    lane = _lane_of(section, trace)
    last = len(trace.hosts) - 1
    title = section.title + (" (failed)" if section.failed else "")
    yield f"    cli->>d{lane}: {text(title)}"
    about = f"{title}: {section.detail}" if section.detail else title
    yield f"    Note over cli,s{last}: {text(about, 2 * MAX_LABEL)}"
    for exchange in section.exchanges:
        n = trace.hosts.index(trace.host_of(exchange.seq) or trace.hosts[lane])
        yield f"    d{n}->>s{n}: {text(_request_label(exchange))}"
        arrow = "--x" if render.problem(exchange) is not None else "-->>"
        yield f"    s{n}{arrow}d{n}: {text(_answer_label(exchange))}"
        for note in trace.notes_for(exchange.seq):
            yield f"    Note right of s{n}: {text('note: ' + note, 2 * MAX_LABEL)}"


def _lines(trace: TraceView) -> Iterator[str]:
    yield "sequenceDiagram"
    if trace.hosts:
        yield "    participant cli as docker CLI"
        for n, host in enumerate(trace.hosts):
            yield f"    participant d{n} as {text('dockerd on ' + host)}"
            yield f"    participant s{n} as {text('ipamx-spy + plugin on ' + host)}"
        for section in trace.sections:
            yield from _lane_section(section, trace)
        return
    yield from (f"    participant {key} as {label}" for key, label in PARTICIPANTS)
    for section in trace.sections:
        yield from _section(section, trace)


def iter_mermaid(trace: TraceView) -> Iterator[str]:
    """The diagram a line at a time, as each section is read; joined, ``export_mermaid``."""
    return (line + "\n" for line in _lines(trace))


def export_mermaid(trace: TraceView) -> str:
    return "".join(iter_mermaid(trace))
