"""Fault injection: make a plugin misbehave on purpose, to watch what dockerd does.

``--fault 'ENDPOINT:ACTION[,ACTION...]'`` on ``mock`` and ``proxy`` (repeatable). ENDPOINT is
an endpoint name (``IpamDriver.RequestAddress``), its short form (``RequestAddress``), or a
glob (``IpamDriver.*``, ``*``), matched case-insensitively. Actions:

``delay=2s``       answer this much later (``500ms``, ``1.5``, ``2s``)
``status=500``     answer with this status; the body is ``{"Err": ...}`` (``err=`` sets it)
``err=TEXT``       answer an error with this text (status 500 unless ``status=`` says)
``empty``          answer with an empty body (a 200 with no body: dockerd reports ``EOF``)
``hang``           never answer (dockerd has no timeout: the docker command hangs)
``drop``           close the connection without answering (dockerd retries once, §1.6)
``times=N``        only the first N calls of the endpoint; later ones are left alone

This module is sans-IO: ``parse`` turns the text into a ``FaultRule``, ``FaultPlan`` decides
per call (it counts calls for ``times``) and ``Injection.rewrite`` changes an answer; the relay
(``ipamx_spy.aio.relay``) only sleeps, waits forever or closes as the injection says. The mock
uses the same ``Injection`` to reproduce a recorded hang-up (``drop``) or stall (``hang``).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


class FaultError(ValueError):
    """A ``--fault`` that cannot be parsed; the message says what was expected."""


@dataclass(frozen=True, kw_only=True)
class Injection:
    """What to do to one call."""

    delay_s: float = 0.0
    status: int | None = None
    err: str | None = None
    empty: bool = False
    hang: bool = False
    drop: bool = False

    @property
    def rewrites(self) -> bool:
        return self.status is not None or self.err is not None or self.empty

    def rewrite(self, status: int, body: bytes) -> tuple[int, bytes]:
        """The answer after the injection (status and body)."""
        if self.status is not None or self.err is not None:
            status = self.status if self.status is not None else 500
            text = self.err if self.err is not None else "ipamx-spy: injected fault"
            body = (json.dumps({"Err": text}, ensure_ascii=False) + "\n").encode("utf-8")
        if self.empty:
            body = b""
        return status, body

    def describe(self) -> str:
        parts = [f"delay={self.delay_s:g}s"] if self.delay_s else []
        parts += [f"status={self.status}"] if self.status is not None else []
        parts += [f"err={self.err}"] if self.err is not None else []
        parts += [name for name in ("empty", "hang", "drop") if getattr(self, name)]
        return ",".join(parts)


@dataclass(frozen=True, kw_only=True)
class FaultRule:
    text: str
    endpoint: str
    injection: Injection
    times: int | None = None

    def matches(self, endpoint: str) -> bool:
        pattern = self.endpoint.lower()
        name = endpoint.lower()
        return fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(
            name.partition(".")[2], pattern)


def _seconds(text: str, rule: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)?", text.strip())
    if match is None:
        raise FaultError(f"--fault {rule!r}: delay={text!r} is not a duration such as 2s or "
                         "500ms")
    value = float(match[1])
    return value / 1000 if match[2] == "ms" else value


def parse(text: str) -> FaultRule:
    """One rule from its text. Raises FaultError naming the part that is wrong."""
    endpoint, colon, actions = text.partition(":")
    if not colon or not endpoint.strip() or not actions.strip():
        raise FaultError(f"--fault {text!r}: give ENDPOINT:ACTION, e.g. "
                         "'IpamDriver.RequestAddress:delay=2s'")
    fields: dict[str, Any] = {}
    times = None
    for part in (p.strip() for p in actions.split(",")):
        name, _, value = part.partition("=")
        name = name.strip().lower()
        if name == "delay":
            fields["delay_s"] = _seconds(value, text)
        elif name == "status" and value.strip().isdigit() and 100 <= int(value) <= 599:
            fields["status"] = int(value)
        elif name == "err" and value:
            fields["err"] = value
        elif name in {"empty", "hang", "drop"} and not value:
            fields[name] = True
        elif name == "times" and value.strip().isdigit() and int(value) > 0:
            times = int(value)
        else:
            raise FaultError(f"--fault {text!r}: {part!r} is not one of delay=DURATION, "
                             "status=CODE, err=TEXT, empty, hang, drop, times=N")
    return FaultRule(text=text, endpoint=endpoint.strip(), injection=Injection(**fields),
                     times=times)


@dataclass
class FaultPlan:
    """The ``--fault`` rules of a session; the first rule that matches a call applies."""

    rules: tuple[FaultRule, ...]
    calls: dict[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, texts: Iterable[str]) -> FaultPlan | None:
        """A plan from ``--fault`` values, or None when there are none (FaultError if bad)."""
        rules = tuple(parse(t) for t in texts)
        return cls(rules) if rules else None

    def injection(self, endpoint: str) -> Injection | None:
        """What to do to this call of ``endpoint`` (counts it)."""
        for rule in self.rules:
            if rule.matches(endpoint):
                count = self.calls.get(rule.text, 0) + 1
                self.calls[rule.text] = count
                if rule.times is None or count <= rule.times:
                    return rule.injection
                return None
        return None
