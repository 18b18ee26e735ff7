"""The page's rendering: one sequence diagram of a session, as HTML fragments.

Theory of operation
-------------------
A ``Board`` is what the page shows: one ``Host`` per recording (a host has three lanes:
dockerd, ipamx-spy and the plugin) and, in time order, the ``Item``s of every host: a heading
for each section (a marker or an inferred docker command) and a row for each exchange. A row
draws the request arrow (dockerd → spy → plugin, labelled with the endpoint) and the answer
(plugin → dockerd, labelled with the status and time), puts the plain-words sentence beside
it, shows its findings and notes, and holds the request and response in a ``<details>`` that
opens on click.

Everything here is pure: ``items(board)`` gives ``Item(id, html)`` in page order, and
``page_html`` wraps them in the page with the stylesheet and script from ``static/``. The live
server sends the same items over its event stream, and the static HTML export
(``ipamx_spy.export.html``) inlines them, so the two cannot drift apart.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from html import escape
from importlib import resources
from typing import TYPE_CHECKING, Any

from ipamx_spy import __version__, render
from ipamx_spy.address import AddressKind
from ipamx_spy.findings import Finding
from ipamx_spy.infer import INFERRED, MARKER, Section
from ipamx_spy.recording import Exchange, Message
from ipamx_spy.records import AnsweredBy

if TYPE_CHECKING:  # the HTML export imports this module: no import of ipamx_spy.export here
    from ipamx_spy.export.trace import Trace

LANES = ("dockerd", "ipamx-spy", "plugin")
class PageMode(StrEnum):
    """What the page is: the HTML export, or served by ``proxy --web`` / ``ipamx-spy web``; the
    value is the page's ``data-mode`` word (``page.js`` reads it)."""

    STATIC = "static"  # every item inlined, no server (the HTML export)
    LIVE = "live"  # a proxy session's page, kept up to date from the event stream
    RECORDINGS = "recordings"  # recordings served by ``ipamx-spy web``


MODES = tuple(PageMode)


@dataclass(frozen=True, kw_only=True)
class Host:
    """One recording on the board: its trace and the label of its lanes."""

    label: str
    trace: Trace
    lane: str | None = None  # one host of a merged trace (``ipamx_spy.multihost``)


@dataclass(frozen=True, kw_only=True)
class Waiting:
    """A request of the running session that the plugin has not answered yet."""

    seq: int
    conn: int
    endpoint: str
    t: float
    waited_s: int
    request: Message | None = None  # as the proxy built it while the plugin works

    def exchange(self) -> Exchange:
        """The exchange as it stands: its request (an empty one when it is not known) and
        no answer yet, for the filter box (``~err`` holds: there is no answer so far)."""
        request = self.request or Message(headers=(), body={"encoding": "empty"},
                                          method="POST", target=f"/{self.endpoint}")
        return Exchange(seq=self.seq, conn=self.conn, t=self.t, endpoint=self.endpoint,
                        request=request, response=None)


@dataclass(frozen=True, kw_only=True)
class Board:
    """What the page shows: one or more hosts, merged by time, and (live, one host) the
    requests still waiting for their answer, after the exchanges."""

    hosts: tuple[Host, ...]
    title: str
    waiting: tuple[Waiting, ...] = ()
    failures: tuple[int, int] | None = None  # (failed, only logged), counted as records came


    @property
    def lanes(self) -> int:
        return len(LANES) * len(self.hosts)

    @property
    def merged(self) -> bool:
        """The hosts are the lanes of one merged trace (not one recording each)."""
        return any(h.lane is not None for h in self.hosts)

    @property
    def traces(self) -> tuple[Trace, ...]:
        """Each distinct trace once (the hosts of a merged board share theirs)."""
        return tuple({id(h.trace): h.trace for h in self.hosts}.values())


@dataclass(frozen=True, kw_only=True)
class Item:
    """One fragment of the page: a section heading (``kind="section"``) or an exchange."""

    id: str
    kind: str
    html: str
    seq: int = 0
    host: int = 0


def board_of(traces: Sequence[tuple[str, Trace]], title: str = "",
             waiting: Sequence[Waiting] = (),
             failures: tuple[int, int] | None = None) -> Board:
    """A board of ``(label, trace)`` pairs; the title defaults to the traces' sources.
    ``failures``: the failed and only-logged exchanges, when the caller counted them already
    (a live board, once per exchange); otherwise the line of facts reads every verdict."""
    hosts = tuple(Host(label=label, trace=trace) for label, trace in traces)
    return Board(hosts=hosts, title=title or ", ".join(h.trace.source for h in hosts),
                 waiting=tuple(waiting), failures=failures)


def board_of_merged(trace: Trace, title: str = "") -> Board:
    """A lane set per host of a merged trace (``ipamx_spy.multihost.timeline``), in the
    merge's order; a trace of one host gives the ordinary board."""
    if not trace.hosts:
        return board_of([("", trace)], title=title or trace.source)
    hosts = tuple(Host(label=name, trace=trace, lane=name) for name in trace.hosts)
    return Board(hosts=hosts, title=title or trace.source)


def exchange_id(board: Board, host: int, seq: int) -> str:
    """The element id of an exchange: ``x7``, or ``x2-7`` when several hosts share the page."""
    return f"x{seq}" if len(board.hosts) == 1 else f"x{host + 1}-{seq}"


# -- JSON with highlighting -----------------------------------------------------------------


def _scalar(value: Any) -> str:
    text = escape(json.dumps(value, ensure_ascii=False))
    if isinstance(value, str):
        return f'<span class="s">{text}</span>'
    if value is None or isinstance(value, bool):
        return f'<span class="b">{text}</span>'
    return f'<span class="n">{text}</span>'


def json_html(value: Any, indent: int = 0) -> str:
    """``value`` pretty-printed as JSON (two-space indent), with spans for highlighting."""
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(value, dict) and value:
        items = [f'{inner}<span class="k">{escape(json.dumps(str(k), ensure_ascii=False))}'
                 f"</span>: {json_html(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(value, list) and value:
        items = [f"{inner}{json_html(v, indent + 1)}" for v in value]
        return "[\n" + ",\n".join(items) + f"\n{pad}]"
    if isinstance(value, dict | list):
        return "{}" if isinstance(value, dict) else "[]"
    return _scalar(value)


# -- one exchange ---------------------------------------------------------------------------


def _headers(message: Message) -> str:
    if message.is_request:
        start = f"{message.method} {message.target} HTTP/{message.http_version}"
    else:
        start = f"HTTP/{message.http_version} {message.status} {message.reason}"
    lines = [f"<b>{escape(start)}</b>"]
    for name, value in message.headers:
        shown = escape(value) if value else '<span class="empty">(empty)</span>'
        lines.append(f'<span class="h">{escape(name)}</span>: {shown}')
    return '<pre class="hdr">' + "\n".join(lines) + "</pre>"


def _body(message: Message) -> str:
    stored = message.body
    encoding = stored.get("encoding")
    if encoding == "empty":
        return '<p class="empty">(empty body)</p>'
    if encoding == "json":
        return f'<pre class="json">{json_html(stored["json"])}</pre>'
    if encoding == "text":
        return f'<pre class="text">{escape(str(stored["text"]))}</pre>'
    return f'<pre class="text">(binary, base64) {escape(str(stored.get("base64", "")))}</pre>'


def _message(label: str, message: Message, trace: Trace) -> str:
    parts = [f'<div class="msg"><h3>{escape(label)}</h3>']
    if trace.options.headers:
        parts.append(_headers(message))
    if trace.options.bodies:
        parts.append(_body(message))
    return "".join(parts) + "</div>"


def status_text(exchange: Exchange) -> str:
    """The answer's label on the diagram: ``200 OK``, or why there was none."""
    if exchange.response is None:
        return "no answer"
    return f"{exchange.response.status} {exchange.response.reason}".strip()


def _finding(finding: Finding) -> str:
    return (f'<p class="finding {escape(finding.severity)}"><b>{escape(finding.code)}</b> '
            f"{escape(finding.severity)}: {escape(finding.message)}</p>")


def _lanes(count: int) -> str:
    return "".join(f'<i class="lane" style="left:{_lane_x(i, count):.3f}%"></i>'
                   for i in range(count))


def _lane_x(lane: int, count: int) -> float:
    return 100 * (lane + 0.5) / count


def _arrows(exchange: Exchange, host: int, count: int, bad: bool) -> str:
    """The request arrow (to the plugin, or only to the spy when it answered) and the answer
    (``bad``: dockerd sees a failure)."""
    first = len(LANES) * host
    to = first + (1 if exchange.answered_by == AnsweredBy.SPY else 2)
    left, right = _lane_x(first, count), _lane_x(to, count)
    span = f"left:{left:.3f}%;width:{right - left:.3f}%"
    answer = (f'<span class="arrow resp{" bad" if bad else ""}" style="{span}">'
              f'<span class="lbl">{escape(status_text(exchange))} · '
              f"{exchange.duration_ms:.1f} ms</span></span>")
    return (f'<span class="arrow req" style="{span}"><span class="lbl ep">'
            f"{escape(exchange.endpoint)}</span></span>"
            f'<i class="spy" style="left:{_lane_x(first + 1, count):.3f}%"></i>'
            + (answer if exchange.response is not None or exchange.fault is not None else ""))


def _summary(exchange: Exchange, host: Host, index: int, count: int,
             reading: render.Reading) -> str:
    where = f" · {escape(host.label)}" if count > len(LANES) and host.label else ""
    problem = reading.problem
    said = (f'<span class="problem">dockerd sees: {escape(problem)}</span>'
            if problem is not None else "")
    return (f'<summary class="row"><span class="diagram">{_lanes(count)}'
            f"{_arrows(exchange, index, count, problem is not None)}</span>"
            f'<span class="words"><span class="where"><b class="seq">#{exchange.seq}</b> '
            f'<span class="t">{exchange.t:.3f} s</span> c{exchange.conn}{where}</span>'
            f'<span class="ann">{escape(reading.annotation)}</span>{said}</span>'
            "</summary>")


def exchange_html(board: Board, index: int, exchange: Exchange,
                  reading: render.Reading | None = None) -> str:
    """The row of one exchange: arrows, sentence, findings, notes, and the bodies on click.

    ``reading``: dockerd's verdict on it when the caller read it already (a live board reads
    it once, for its counts and this row); otherwise it is read here, once for the row."""
    host = board.hosts[index]
    trace = host.trace
    if reading is None:
        reading = render.read(exchange)
    bad = " bad" if reading.problem is not None else ""
    parts = [f'<article class="x{bad}" id="{exchange_id(board, index, exchange.seq)}" '
             f'data-seq="{exchange.seq}" data-host="{index}" data-ep="{escape(exchange.endpoint)}">'
             f"<details>{_summary(exchange, host, index, board.lanes, reading)}"
             '<div class="bodies">']
    parts.append(_message("docker → plugin", exchange.request, trace))
    if exchange.response is not None:
        parts.append(_message("plugin → docker", exchange.response, trace))
    parts.append("</div>")
    if exchange.fault is not None:
        fault = exchange.fault
        parts.append(f'<p class="fault">fault ({escape(fault.side)} side, {escape(fault.kind)}):'
                     f" {escape(fault.message)}</p>")
    parts.append("</details>")
    parts += [_finding(f) for f in trace.findings_for(exchange.seq)]
    parts += [f'<p class="note">Note on #{exchange.seq}: {escape(n)}</p>'
              for n in trace.notes_for(exchange.seq)]
    return "".join(parts) + "</article>"


def waiting_html(board: Board, waiting: Waiting) -> str:
    """The row of a request still waiting for its answer: the request arrow goes out and no
    answer comes back yet; the exchange's own row replaces it (same id) once it ends."""
    count = board.lanes
    left, right = _lane_x(0, count), _lane_x(2, count)
    span = f"left:{left:.3f}%;width:{right - left:.3f}%"
    so_far = f"{waiting.waited_s} s so far" if waiting.waited_s else "just sent"
    request = (_message("docker → plugin", waiting.request, board.hosts[0].trace)
               if waiting.request is not None else "")
    return (f'<article class="x pending" id="{exchange_id(board, 0, waiting.seq)}" '
            f'data-seq="{waiting.seq}" data-host="0" data-ep="{escape(waiting.endpoint)}">'
            f'<details><summary class="row"><span class="diagram">{_lanes(count)}'
            f'<span class="arrow req" style="{span}"><span class="lbl ep">'
            f"{escape(waiting.endpoint)}</span></span>"
            f'<i class="spy" style="left:{_lane_x(1, count):.3f}%"></i>'
            f'<span class="arrow wait" style="{span}"><span class="lbl">waiting · '
            f"{escape(so_far)}</span></span></span>"
            f'<span class="words"><span class="where"><b class="seq">#{waiting.seq}</b> '
            f'<span class="t">{waiting.t:.3f} s</span> c{waiting.conn}</span>'
            f'<span class="ann">{escape(waiting.endpoint)}: waiting for the plugin\'s answer '
            f"({escape(so_far)})</span></span></summary>"
            f'<div class="bodies">{request}<p class="empty">The answer shows here once the '
            "plugin answers (or the connection ends).</p></div></details></article>")


# -- sections and order ---------------------------------------------------------------------


def section_html(board: Board, index: int, number: int, section: Section) -> str:
    classes = f"sec {section.source}" + (" failed" if section.failed else "")
    badge = {MARKER: "marked", INFERRED: "inferred"}.get(section.source, "unrecognised")
    label = board.hosts[index].label
    where = (f'<span class="badge host">{escape(label)}</span>'
             if len(board.hosts) > 1 and label else "")
    calls = len(section.exchanges)
    parts = [f'<div class="{classes}" id="{section_id(board, index, number)}" '
             f'data-host="{index}"><h2><span class="t">{section.t:.3f} s</span>'
             f"{escape(section.title)}{where}<span class=\"badge\">{badge}</span>"
             + ('<span class="badge failed">failed</span>' if section.failed else "")
             + f'<span class="calls">{calls} call{"" if calls == 1 else "s"}</span></h2>']
    if section.detail:
        parts.append(f'<p class="detail">{escape(section.detail)}</p>')
    return "".join(parts) + "</div>"


def section_id(board: Board, index: int, number: int) -> str:
    return f"s{number}" if len(board.hosts) == 1 else f"s{index + 1}-{number}"


Memo = dict[tuple[Any, ...], str]
"""Rendered rows of a growing session, so that each build renders only what is new."""


def _row(board: Board, index: int, exchange: Exchange, memo: Memo | None) -> str:
    if memo is None:
        return exchange_html(board, index, exchange)
    trace = board.hosts[index].trace
    key = (len(board.hosts), index, exchange.seq, trace.findings_for(exchange.seq),
           trace.notes_for(exchange.seq))
    html = memo.get(key)
    if html is None:
        html = memo[key] = exchange_html(board, index, exchange)
    return html


def _host_items(board: Board, index: int, memo: Memo | None) -> Iterator[tuple[float, Item]]:
    """The items of one host with their absolute time (seconds since the epoch)."""
    trace = board.hosts[index].trace
    base = trace.started.timestamp()
    for number, section in enumerate(trace.sections, 1):
        yield base + section.t, Item(id=section_id(board, index, number), kind="section",
                                     html=section_html(board, index, number, section),
                                     host=index)
        for exchange in section.exchanges:
            yield base + exchange.t, Item(
                id=exchange_id(board, index, exchange.seq), kind="exchange", seq=exchange.seq,
                host=index, html=_row(board, index, exchange, memo))


def _section_host(board: Board, section: Section) -> int:
    """The lane set of a merged trace's section (each is one host's: ``lane_sections``)."""
    trace = board.hosts[0].trace
    lane = (trace.host_of(section.exchanges[0].seq) if section.exchanges
            else section.title.split(": ", 1)[0])
    return next((i for i, h in enumerate(board.hosts) if h.lane == lane), 0)


def placed_sections(board: Board) -> Iterator[tuple[int, int, Section]]:
    """Every section of the board with its host's index and its number (as in ``section_id``)."""
    if board.merged:
        for number, section in enumerate(board.hosts[0].trace.sections, 1):
            yield _section_host(board, section), number, section
        return
    for index, host in enumerate(board.hosts):
        for number, section in enumerate(host.trace.sections, 1):
            yield index, number, section


def _merged_items(board: Board, memo: Memo | None) -> list[Item]:
    """A merged trace's headings and rows in the merge's numbering (which is its time order):
    a heading right before its first exchange, the rows interleaved across hosts."""
    keyed: list[tuple[tuple[int, int, int], Item]] = []
    last = 0
    for index, number, section in placed_sections(board):
        first = section.exchanges[0].seq if section.exchanges else last
        keyed.append(((first, 0 if section.exchanges else 2, number), Item(
            id=section_id(board, index, number), kind="section", host=index,
            html=section_html(board, index, number, section))))
        for exchange in section.exchanges:
            last = max(last, exchange.seq)
            keyed.append(((exchange.seq, 1, number), Item(
                id=exchange_id(board, index, exchange.seq), kind="exchange", seq=exchange.seq,
                host=index, html=_row(board, index, exchange, memo))))
    keyed.sort(key=lambda entry: entry[0])
    return [item for _key, item in keyed]


def items(board: Board, memo: Memo | None = None) -> list[Item]:
    """Every heading and row of the board, in time order (one host: the recording's order;
    a merged trace: the merge's order).

    ``memo`` keeps rendered rows between calls; give one only when a row's content never
    changes for the same sequence number, findings and notes (a live, append-only session)."""
    if board.merged:
        return _merged_items(board, memo)
    waiting = [Item(id=exchange_id(board, 0, w.seq), kind="exchange", seq=w.seq,
                    html=waiting_html(board, w)) for w in board.waiting]
    if len(board.hosts) == 1:
        return [item for _t, item in _host_items(board, 0, memo)] + waiting
    timed = [(t, index, n, item) for index in range(len(board.hosts))
             for n, (t, item) in enumerate(_host_items(board, index, memo))]
    timed.sort(key=lambda entry: entry[:3])
    return [entry[3] for entry in timed] + waiting


# -- the page around the items ------------------------------------------------------------


def _host_header(host: Host) -> Mapping[str, Any]:
    """The header a host recorded (a merged trace keeps each host's under ``merged``)."""
    header = host.trace.header
    if host.lane is None:
        return header
    part: Mapping[str, Any] = next(
        (p for p in header.get("merged", ()) if p.get("host") == host.lane), {})
    return {**header, **{k: v for k, v in part.items() if v is not None}}


def lanes_html(board: Board) -> str:
    """The sticky lane heads: dockerd, ipamx-spy and the plugin of each host."""
    parts = [f'<div class="lanes" style="--lanes:{board.lanes}">'
             f'<span class="heads">']
    for index, host in enumerate(board.hosts):
        header = _host_header(host)
        plugin = str(header.get("name") or "plugin")
        upstream = str(header.get("upstream") or "")
        names = ("dockerd", "ipamx-spy",
                 f"{plugin} (built-in)" if upstream == AddressKind.BUILTIN else plugin)
        for lane, name in enumerate(names):
            x = _lane_x(len(LANES) * index + lane, board.lanes)
            parts.append(f'<span class="head l{lane}" style="left:{x:.3f}%" '
                         f'title="{escape(name)}">{escape(name)}'
                         + (f"<small>{escape(host.label)}</small>"
                            if len(board.hosts) > 1 and host.label else "") + "</span>")
    return "".join(parts) + '</span><span class="words">what it means</span></div>'


def meta_text(board: Board) -> str:
    """One line of facts: exchanges, failures, findings, notes, redaction."""
    exchanges = [e for t in board.traces for e in t.exchanges]
    if board.failures is not None:
        failed, logged = board.failures
    else:
        failed = logged = 0
        for exchange in exchanges:
            reading = render.read(exchange)
            failed += reading.problem is not None
            logged += reading.only_logged
    return facts_text(board, exchanges=len(exchanges), failed=failed, logged=logged,
                      findings=sum(len(t.findings) for t in board.traces),
                      notes=sum(len(t.notes_for(e.seq)) for t in board.traces
                                for e in t.exchanges))


def facts_text(board: Board, *, exchanges: int, failed: int, logged: int, findings: int,
               notes: int) -> str:
    """The line of facts from its counts (a live board keeps them as the records come)."""
    failures = f"{failed} failed" + (f" ({logged} only logged by dockerd)" if logged else "")
    facts = [f"{exchanges} exchange{'' if exchanges == 1 else 's'}", failures,
             f"{findings} finding{'' if findings == 1 else 's'}",
             f"{notes} note{'' if notes == 1 else 's'}"]
    if len(board.hosts) == 1:
        header = board.hosts[0].trace.header
        facts.insert(0, f"recorded {header.get('started', '?')}")
    redacted = sorted({r for t in board.traces for r in t.redacted})
    if redacted:
        facts.append("redacted: " + ", ".join(redacted))
    return " · ".join(facts)


def session_findings_html(board: Board, findings: Sequence[Finding] | None = None) -> str:
    """Findings about a whole session (``seq`` 0), shown above the diagram (``findings``:
    those, when the caller has them apart already)."""
    if findings is None:
        findings = [f for t in board.traces for f in t.findings if f.seq == 0]
    return "".join(_finding(f) for f in findings)


def asset(name: str) -> str:
    """A file of ``ipamx_spy/web/static`` (the page's stylesheet and script)."""
    return resources.files("ipamx_spy.web").joinpath("static", name).read_text("utf-8")


def _controls(mode: PageMode) -> str:
    live = mode != PageMode.STATIC
    parts = []
    if live:
        parts.append('<input id="filter" type="search" autocomplete="off" spellcheck="false" '
                     'placeholder="filter, as show --filter: RequestAddress | ~err | ~n 3-7" '
                     'aria-label="filter">')
        parts.append('<button type="button" id="follow" aria-pressed="true">follow</button>'
                     '<button type="button" id="pause" aria-pressed="false">pause</button>')
    parts.append('<button type="button" data-open="1">expand all</button>'
                 '<button type="button" data-open="0">collapse all</button>'
                 '<button type="button" id="presenter" aria-pressed="false">presenter</button>'
                 '<button type="button" id="theme">dark</button>')
    error = '<p id="filter-error" class="filter-error" role="alert"></p>' if live else ""
    return '<div class="controls">' + "".join(parts) + "</div>" + error


def page_html(board: Board, *, mode: PageMode = PageMode.STATIC,
              rendered: Sequence[str] | None = None, meta: str | None = None,
              version: int = 0) -> str:
    """The whole page. ``static``: every item inlined, no server (the HTML export);
    ``live`` / ``recordings``: the same page, kept up to date from the server's event stream
    (``rendered``, ``meta``: the items' HTML and the line of facts as the server built them;
    ``version``: that build's number, from which the page asks for what changed)."""
    if mode not in MODES:
        raise ValueError(f"unknown page mode {mode!r}")
    title = f"ipamx-spy: {board.title}"
    body = "\n".join(rendered if rendered is not None else (i.html for i in items(board)))
    return "\n".join([
        f'<!DOCTYPE html>\n<html lang="en" data-mode="{mode}"'
        + ("" if mode == PageMode.STATIC else f' data-version="{version}"') + ">",
        '<head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{asset('page.css')}</style></head><body>",
        '<header class="bar"><h1>ipamx-spy <code id="source">'
        f"{escape(board.title)}</code>"
        + ('<span id="live" class="live">live</span>' if mode == PageMode.LIVE else "") + "</h1>",
        f'<p class="meta" id="meta">{escape(meta_text(board) if meta is None else meta)}</p>',
        _controls(mode), "</header>",
        f'<div id="session-findings">{session_findings_html(board)}</div>',
        lanes_html(board),
        f'<main id="items">{body}</main>',
        f'<footer>made by ipamx-spy {escape(__version__)} from {escape(board.title)}</footer>',
        f"<script>{asset('page.js')}</script></body></html>",
    ]) + "\n"
