"""What the mitmproxy contentview shows of a libnetwork request or answer, as the live view does.

The endpoint and what it is for, the plain-words sentence of the exchange, what dockerd makes of
the answer, then one line per field of the message: its name, its protocol type and its value,
with fields the protocol does not have and required fields that are missing said as such.
Lines are mitmproxy's: lists of ``(style, text)``; standard library only.
"""

from __future__ import annotations

import json
from typing import Any

from ipamx_spy import dockerd
from ipamx_spy.recording import Exchange

Line = list[tuple[str, str]]


def sentence(exchange: Exchange) -> str:
    """The exchange in plain words (the same sentence as the live view's)."""
    response = exchange.response
    if response is None or exchange.fault is not None:
        reason = exchange.fault.message if exchange.fault else "no answer"
        asked = dockerd.describe(exchange.endpoint, exchange.request.value)
        return f"{asked}; it failed: {reason}"
    return dockerd.describe(exchange.endpoint, exchange.request.value, response.value,
                             response.status)


def verdict_line(exchange: Exchange) -> Line:
    """What dockerd makes of the answer: the authority's verdict on the bytes as sent (so an
    empty body is EOF, a gateway request's error is worded as dockerd words it, a refused
    release by what its address is to dockerd: ``Exchange.address_role``); a failure dockerd
    only logs comes with the line it logs, as ``show`` and the exports give it."""
    response = exchange.response
    if response is None:
        return [("error", "dockerd: no answer")]
    request = exchange.request.value
    version = dockerd.DockerVersion.or_default(exchange.docker_version)
    found = dockerd.read_answer(exchange.endpoint, response.status, response.headers,
                                response.raw_body, version,
                                request=request if isinstance(request, dict) else None,
                                role=exchange.address_role)
    if found.error is None:
        return [("highlight", "dockerd: success")]
    if found.outcome is dockerd.Outcome.LOGGED:
        line = found.shown_log_line
        return [("error", f"dockerd only logs the error: {found.error}"
                          + (f", as: {line}" if line else ""))]
    return [("error", f"dockerd fails the command: {found.error}")]


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def field_lines(fields: tuple[dockerd.Field, ...], body: Any) -> list[Line]:
    """One line per field of the row, then the keys the protocol does not have."""
    values = body if isinstance(body, dict) else {}
    width = max((len(f.name) for f in fields), default=0)
    width = max([width, *(len(k) for k in values)])
    lines: list[Line] = []
    for field in fields:
        name = field.name.ljust(width)
        if field.name in values:
            lines.append([("header", f"{name}  "), ("offset", f"{field.type:<12} "),
                          ("text", _value(values[field.name]))])
        else:
            missing = "(missing)" if field.required else "(not sent)"
            lines.append([("header", f"{name}  "), ("offset", f"{field.type:<12} "),
                          ("error" if field.required else "text", missing)])
    known = {f.name for f in fields}
    for key, value in values.items():
        if key not in known:
            lines.append([("header", f"{key.ljust(width)}  "), ("offset", f"{'?':<12} "),
                          ("text", f"{_value(value)}  (not in the protocol)")])
    if body is not None and not isinstance(body, dict):
        lines.append([("error", f"not a JSON object: {_value(body)}")])
    return lines


def message_view(exchange: Exchange, *, answer: bool) -> tuple[str, list[Line]]:
    """The description and lines for the request (``answer=False``) or the answer."""
    row = dockerd.ANY_BY_NAME.get(exchange.endpoint)
    side = "answer" if answer else "request"
    title = f"{exchange.endpoint} {side}"
    if row is None:
        head: Line = [("error", f"{exchange.endpoint}: not a libnetwork plugin endpoint")]
        return f"libnetwork {title}", [head]
    lines: list[Line] = [[("header", exchange.endpoint), ("text", f" — {row.summary}")],
                         [("text", sentence(exchange))]]
    message = exchange.response if answer else exchange.request
    if answer:
        lines.append(verdict_line(exchange))
    if message is not None:
        fields = row.response if answer else row.request
        value = message.value
        if answer and isinstance(value, dict) and row.error_field in value:
            fields += (dockerd.Field(name=row.error_field, type="str", required=False),)
        lines += field_lines(fields, value)
    return f"libnetwork {title}", lines
