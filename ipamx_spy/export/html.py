"""HTML: one self-contained page (inline CSS and JS, no network) for a projector or a browser.

A timeline of every exchange sits on top; below it, one block per marker or inferred command,
each exchange a ``<details>`` element with its plain-words annotation in the summary, headers
and highlighted JSON inside, and its notes and validation findings always visible. Large type
and dark-on-white colours read well on a projector. ``page.html#x7`` opens exchange 7,
``page.html#all`` every exchange; the script marks ``<html data-ready="1">`` once it has run.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from html import escape
from typing import Any

from ipamx_spy import __version__, render
from ipamx_spy.findings import Finding
from ipamx_spy.infer import INFERRED, MARKER, Section
from ipamx_spy.recording import Exchange, Message

from .trace import Trace

CSS = """
:root { --fg:#111; --bg:#fff; --muted:#444; --ok:#0a6b2e; --bad:#b00020; --mark:#7a4d00;
        --code:#f2f2f2; --line:#bbb; --key:#003f8a; --str:#7a1f00; --num:#5b2a86; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 88rem; padding: 1.5rem 2rem 4rem; background: var(--bg);
       color: var(--fg); font: 22px/1.45 system-ui, "DejaVu Sans", Arial, sans-serif; }
h1 { font-size: 2rem; margin: 0 0 .3rem; } h2 { font-size: 1.45rem; margin: 0; }
code, pre, summary .ep { font-family: "DejaVu Sans Mono", "Fira Code", monospace; }
.meta { color: var(--muted); margin: 0 0 1rem; }
button { font: inherit; font-size: .85rem; padding: .2rem .8rem; margin-right: .5rem;
         border: 2px solid var(--fg); background: var(--bg); color: var(--fg); cursor: pointer; }
.timeline { margin: 1rem 0 2rem; }
.track { position: relative; height: 2.6rem; border-bottom: 3px solid var(--fg); }
.tick { position: absolute; bottom: 0; width: .55rem; height: 2.2rem; margin-left: -.27rem;
        background: var(--ok); border-radius: 2px; }
.tick.bad { background: var(--bad); height: 2.6rem; }
.flag { position: absolute; bottom: 0; height: 2.6rem; border-left: 3px dashed var(--mark); }
.scale { display: flex; justify-content: space-between; color: var(--muted); font-size: .8rem; }
.toc { padding-left: 1.6rem; } .toc a { color: var(--fg); }
.t { color: var(--muted); font-variant-numeric: tabular-nums; margin-right: .6rem; }
.cmd { border-left: 8px solid var(--mark); padding: .4rem 0 .4rem 1rem; margin: 1.8rem 0; }
.cmd.inferred { border-left-style: dotted; } .cmd.failed { border-left-color: var(--bad); }
.badge { font-size: .8rem; border: 2px solid currentColor; border-radius: .3rem;
         padding: 0 .35rem; margin-left: .5rem; vertical-align: middle; }
.detail { margin: .2rem 0 .6rem; color: var(--muted); }
.none { font-style: italic; color: var(--muted); }
details { border: 2px solid var(--line); border-radius: .4rem; margin: .7rem 0 .2rem;
          background: var(--bg); }
details.bad { border-color: var(--bad); }
summary { padding: .45rem .8rem; cursor: pointer; }
summary .seq { font-weight: 700; margin-right: .4rem; } summary .ep { font-weight: 700; }
.st { font-weight: 700; margin-left: .5rem; color: var(--ok); } .bad .st { color: var(--bad); }
.ms { color: var(--muted); margin-left: .5rem; font-size: .85rem; }
.ann { display: block; font-style: italic; margin-top: .15rem; }
.msg { padding: 0 .8rem .6rem; } .msg h3 { font-size: 1rem; margin: .6rem 0 .2rem; }
pre { background: var(--code); padding: .5rem .8rem; margin: 0 0 .4rem; overflow-x: auto;
      font-size: 18px; line-height: 1.35; white-space: pre-wrap; word-break: break-all; }
.hdr .n { color: var(--key); } .empty { color: var(--muted); font-style: italic; }
.k { color: var(--key); } .s { color: var(--str); } .n { color: var(--num); }
.b { color: var(--num); font-weight: 700; }
.note { background: #fff3c4; border-left: 6px solid var(--mark); padding: .3rem .8rem;
        margin: .3rem 0; font-weight: 600; }
.finding { border-left: 6px solid var(--muted); padding: .3rem .8rem; margin: .3rem 0; }
.finding.error { border-color: var(--bad); color: var(--bad); }
.finding.warning { border-color: var(--mark); }
.fault { color: var(--bad); font-weight: 700; padding: 0 .8rem .6rem; }
footer { margin-top: 3rem; color: var(--muted); font-size: .8rem; }
"""

SCRIPT = """
function setAll(open) {
  document.querySelectorAll("details").forEach(function (d) { d.open = open; });
}
document.querySelectorAll("button[data-open]").forEach(function (button) {
  button.addEventListener("click", function () { setAll(button.dataset.open === "1"); });
});
function reveal() {
  if (location.hash === "#all") { setAll(true); return; }
  var target = location.hash && document.getElementById(location.hash.slice(1));
  if (target && target.tagName === "DETAILS") { target.open = true; }
}
window.addEventListener("hashchange", reveal);
reveal();
document.documentElement.dataset.ready = "1";
"""


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


# -- pieces ---------------------------------------------------------------------------------


def _headers(message: Message) -> str:
    if message.is_request:
        start = f"{message.method} {message.target} HTTP/{message.http_version}"
    else:
        start = f"HTTP/{message.http_version} {message.status} {message.reason}"
    lines = [f"<b>{escape(start)}</b>"]
    for name, value in message.headers:
        shown = escape(value) if value else '<span class="empty">(empty)</span>'
        lines.append(f'<span class="n">{escape(name)}</span>: {shown}')
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


def _status(exchange: Exchange) -> str:
    return "no answer" if exchange.response is None else str(exchange.response.status)


def _finding(finding: Finding) -> str:
    return (f'<p class="finding {escape(finding.severity)}"><b>{escape(finding.code)}</b> '
            f"{escape(finding.severity)}: {escape(finding.message)}</p>")


def _exchange(exchange: Exchange, trace: Trace) -> Iterator[str]:
    bad = " bad" if render.problem(exchange) is not None else ""
    yield (f'<details class="x{bad}" id="x{exchange.seq}"><summary>'
           f'<span class="t">{exchange.t:.3f} s</span><span class="seq">#{exchange.seq}</span>'
           f'<span class="ep">{escape(exchange.endpoint)}</span>'
           f'<span class="st">{escape(_status(exchange))}</span>'
           f'<span class="ms">{exchange.duration_ms:.1f} ms · c{exchange.conn}</span>'
           f'<span class="ann">{escape(render.annotation(exchange))}</span></summary>')
    yield _message("docker → plugin", exchange.request, trace)
    if exchange.response is not None:
        yield _message("plugin → docker", exchange.response, trace)
    if exchange.fault is not None:
        fault = exchange.fault
        yield (f'<p class="fault">fault ({escape(fault.side)} side, {escape(fault.kind)}): '
               f"{escape(fault.message)}</p>")
    yield "</details>"
    for note in trace.notes_for(exchange.seq):
        yield f'<p class="note">Note on #{exchange.seq}: {escape(note)}</p>'
    yield from (_finding(f) for f in trace.findings_for(exchange.seq))


def _section(number: int, section: Section, trace: Trace) -> Iterator[str]:
    classes = f"cmd {section.source}" + (" failed" if section.failed else "")
    badge = {MARKER: "marked", INFERRED: "inferred"}.get(section.source, "unrecognised")
    yield f'<section class="{classes}" id="s{number}">'
    yield (f'<h2><span class="t">{section.t:.3f} s</span>{escape(section.title)}'
           f'<span class="badge">{badge}</span>'
           + ('<span class="badge failed">failed</span>' if section.failed else "") + "</h2>")
    if section.detail:
        yield f'<p class="detail">{escape(section.detail)}</p>'
    if not section.exchanges:
        yield '<p class="none">No plugin calls.</p>'
    for exchange in section.exchanges:
        yield from _exchange(exchange, trace)
    yield "</section>"


def _calls(count: int) -> str:
    return "1 call" if count == 1 else f"{count} calls"


def _span(trace: Trace) -> tuple[float, float]:
    times = [e.t for e in trace.exchanges] + [s.t for s in trace.sections]
    ends = [e.t + e.duration_ms / 1000 for e in trace.exchanges]
    low, high = min(times, default=0.0), max(times + ends, default=0.0)
    return low, max(high - low, 1e-3)


def _timeline(trace: Trace) -> Iterator[str]:
    low, width = _span(trace)
    yield '<section class="timeline" aria-label="timeline"><div class="track">'
    for number, section in enumerate(trace.sections, 1):
        if section.source == MARKER:
            left = 100 * (section.t - low) / width
            yield (f'<a class="flag" href="#s{number}" style="left:{left:.2f}%" '
                   f'title="{escape(section.title)}"></a>')
    for exchange in trace.exchanges:
        left = 100 * (exchange.t - low) / width
        bad = " bad" if render.problem(exchange) is not None else ""
        label = f"#{exchange.seq} {exchange.endpoint} {_status(exchange)}"
        yield (f'<a class="tick{bad}" href="#x{exchange.seq}" style="left:{left:.2f}%" '
               f'title="{escape(label)}"></a>')
    yield (f'</div><div class="scale"><span>{low:.3f} s</span>'
           f"<span>{low + width:.3f} s</span></div>")
    yield '<ol class="toc">'
    for number, section in enumerate(trace.sections, 1):
        yield (f'<li><a href="#s{number}"><span class="t">{section.t:.3f} s</span>'
               f"{escape(section.heading)}</a> ({_calls(len(section.exchanges))})</li>")
    yield "</ol></section>"


def _intro(trace: Trace) -> Iterator[str]:
    header = trace.header
    errors = sum(1 for e in trace.exchanges if render.problem(e) is not None)
    logged = sum(1 for e in trace.exchanges if render.only_logged(e))
    notes = sum(len(trace.notes_for(e.seq)) for e in trace.exchanges)
    failed = f"{errors} failed" + (f" ({logged} only logged by dockerd)" if logged else "")
    facts = [f"recorded {header.get('started', '?')}",
             f"plugin {header.get('name', '?')} on {header.get('listen', '?')}",
             f"{len(trace.exchanges)} exchanges", failed, f"{notes} notes"]
    if trace.redacted:
        facts.append("redacted: " + ", ".join(trace.redacted))
    yield f"<header><h1>ipamx-spy trace <code>{escape(trace.source)}</code></h1>"
    yield f'<p class="meta">{escape(" · ".join(facts))}</p>'
    yield ('<p><button type="button" data-open="1">expand all</button>'
           '<button type="button" data-open="0">collapse all</button></p></header>')
    for finding in trace.findings:
        if finding.seq == 0:
            yield _finding(finding)


def export_html(trace: Trace) -> str:
    parts = ['<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>ipamx-spy trace: {escape(trace.source)}</title>",
             f"<style>{CSS}</style></head><body>"]
    parts += _intro(trace)
    parts += _timeline(trace)
    parts.append("<main>")
    for number, section in enumerate(trace.sections, 1):
        parts += _section(number, section, trace)
    parts.append(f"</main><footer>made by ipamx-spy {escape(__version__)} from "
                 f"{escape(trace.source)}</footer>")
    parts.append(f"<script>{SCRIPT}</script></body></html>")
    return "\n".join(parts) + "\n"
