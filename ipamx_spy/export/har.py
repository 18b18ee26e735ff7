"""HAR 1.2: the session as browser devtools and mitmproxy (``mitmweb -r FILE.har``) open it.

Mapping (http://www.softwareishard.com/blog/har-12-spec/):

- each marker or inferred command is a *page* (``title``; ``comment`` says where the title came
  from and what the calls did); each exchange is an *entry* whose ``pageref`` names its page;
- ``url`` is ``http://HOST/Interface.Method``: HOST is the request's ``Host`` header, or
  ``plugin.moby.localhost`` when dockerd sent it empty (before 20.10.26) - the name newer
  daemons use for plugins on Unix sockets; the socket path is in ``log.comment``;
- ``startedDateTime`` is the header's ``started`` plus the exchange's ``t``; ``time`` is
  ``duration_ms``; in ``timings``, ``wait`` is the plugin's time (``upstream_ms``) and
  ``receive`` the rest of ipamx-spy's handling;
- notes of an exchange are its entry ``comment``; an exchange without an answer has status 0 and
  an ``_error`` (Chrome's convention);
- ``_ipamx`` keeps what HAR has no field for (seq, connection, endpoint, the annotation).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from typing import Any

from ipamx_spy import __version__, render
from ipamx_spy.infer import INFERRED, MARKER, Section
from ipamx_spy.recording import Exchange, Message

from .records import array, member
from .trace import TraceView

DEFAULT_HOST = "plugin.moby.localhost"


def _iso(trace: TraceView, t: float) -> str:
    return trace.at(t).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def url(message: Message) -> str:
    host = (message.header("Host") or "").strip() or DEFAULT_HOST
    return f"http://{host}{message.target}"


def _mime(message: Message) -> str:
    declared = message.header("Content-Type")
    if declared:
        return declared
    encoding = message.body.get("encoding")
    return {"json": "application/json", "text": "text/plain"}.get(str(encoding),
                                                                  "application/octet-stream")


def _content(message: Message) -> dict[str, Any]:
    """``text`` (and ``encoding`` for binary bodies) of a body, exactly its bytes."""
    raw = message.raw_body
    try:
        return {"text": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {"text": base64.b64encode(raw).decode("ascii"), "encoding": "base64"}


def _headers(message: Message) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in message.headers]


def _sizes(message: Message) -> dict[str, int]:
    body = len(message.raw_body)
    return {"headersSize": len(message.raw()) - body, "bodySize": body}


def _request(message: Message) -> dict[str, Any]:
    request: dict[str, Any] = {
        "method": message.method, "url": url(message),
        "httpVersion": f"HTTP/{message.http_version}", "cookies": [],
        "headers": _headers(message), "queryString": [], **_sizes(message),
    }
    if message.raw_body:
        request["postData"] = {"mimeType": _mime(message), **_content(message)}
    return request


def _response(message: Message | None) -> dict[str, Any]:
    if message is None:
        return {"status": 0, "statusText": "", "httpVersion": "", "cookies": [], "headers": [],
                "content": {"size": 0, "mimeType": "x-unknown"}, "redirectURL": "",
                "headersSize": -1, "bodySize": -1}
    return {
        "status": message.status, "statusText": message.reason,
        "httpVersion": f"HTTP/{message.http_version}", "cookies": [],
        "headers": _headers(message),
        "content": {"size": len(message.raw_body), "mimeType": _mime(message),
                    **_content(message)},
        "redirectURL": "", **_sizes(message),
    }


def _timings(exchange: Exchange) -> dict[str, float]:
    total = round(exchange.duration_ms, 3)
    wait = round(min(exchange.upstream_ms if exchange.upstream_ms is not None else total,
                     total), 3)
    return {"blocked": -1, "dns": -1, "connect": -1, "ssl": -1, "send": 0, "wait": wait,
            "receive": round(total - wait, 3)}


def _entry(exchange: Exchange, page: str, trace: TraceView) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "pageref": page, "startedDateTime": _iso(trace, exchange.t),
        "time": round(exchange.duration_ms, 3),
        "request": _request(exchange.request), "response": _response(exchange.response),
        "cache": {}, "timings": _timings(exchange), "connection": str(exchange.conn),
        "_ipamx": {"seq": exchange.seq, "conn": exchange.conn, "t": exchange.t,
                   "endpoint": exchange.endpoint, "answered_by": exchange.answered_by,
                   "annotation": render.annotation(exchange),
                   "problem": render.problem(exchange),
                   "fault": None if exchange.fault is None else exchange.fault.to_json(),
                   "findings": [f.to_json() for f in trace.findings_for(exchange.seq)]},
    }
    notes = trace.notes_for(exchange.seq)
    if notes:
        entry["comment"] = "\n".join(notes)
    if exchange.response is None:
        entry["_error"] = render.problem(exchange) or "no answer"
    return entry


def _page(number: int, section: Section, trace: TraceView) -> dict[str, Any]:
    where = ("inferred by ipamx-spy from the calls" if section.source == INFERRED
             else "marked while recording" if section.source == MARKER
             else "no docker command recognised")
    comment = f"{where}; {section.detail}" if section.detail else where
    return {"startedDateTime": _iso(trace, section.t), "id": f"section-{number}",
            "title": section.heading, "pageTimings": {"onContentLoad": -1, "onLoad": -1},
            "comment": comment}


def _log_comment(trace: TraceView) -> str:
    header: Mapping[str, Any] = trace.header
    text = (f"ipamx-spy recording {trace.source}: plugin {header.get('name', '?')} "
            f"on unix socket {header.get('listen', '?')}, upstream {header.get('upstream', '?')}")
    if trace.redacted:
        text += "; redacted: " + ", ".join(trace.redacted)
    return text


def iter_har(trace: TraceView) -> Iterator[str]:
    """The HAR document in pieces, as it is made (the sections read once for the pages, once
    more for the entries); the pieces joined are ``export_har``'s text."""
    yield '{\n  "log": {\n'
    yield member("version", "1.2", 2) + ",\n"
    yield member("creator", {"name": "ipamx-spy", "version": __version__}, 2) + ",\n"
    yield from array("pages", (_page(n, s, trace) for n, s in enumerate(trace.sections, 1)), 2)
    yield ",\n"
    yield from array("entries", (_entry(e, f"section-{n}", trace)
                                 for n, s in enumerate(trace.sections, 1)
                                 for e in s.exchanges), 2)
    yield ",\n" + member("comment", _log_comment(trace), 2) + "\n  }\n}\n"


def export_har(trace: TraceView) -> str:
    return "".join(iter_har(trace))
