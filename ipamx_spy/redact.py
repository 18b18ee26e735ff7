"""Redaction: blank out chosen values of exchange records before anyone else sees them.

Used twice: by the proxy at record time (``--redact`` on ``ipamx-spy proxy``, through
``redact_exchange_record``) and by ``show`` / ``export`` on an existing recording
(``redact_recording``). ``docs/exports.md`` is the user-facing description.

Rule syntax (one rule per ``--redact``):

``PATH``            a value in the JSON body of the request and of the response
``request.PATH``    ... of the request only
``response.PATH``   ... of the response only
``header:NAME``     the value of every header called NAME (any case), request and response

``PATH`` is the one path language of ``ipamx_spy.pathspec`` (shared with replay's ``--ignore``):
dotted keys, ``\\.`` for a dot inside a key, list indices, ``*`` within a key, ``**`` for any
levels, keys matched case-insensitively (``{"address": ...}`` is caught by ``Address``).

The value found is replaced by the string ``REDACTED`` whatever its type. ``null`` and ``""``
stay as they are: they carry no data, and their emptiness means something in the protocol
(``"Address": ""`` asks the allocator to choose). Bodies that are not JSON are left alone. A
record that changed gets a ``redacted`` key listing the rules that matched, and its
``Content-Length`` headers are set to the new body length, so the record stays self-consistent.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import pathspec
from .recording import Exchange, Recording, RecordingError, decode_body

REDACTED = "«redacted»"
SIDES = ("request", "response")
HEADER_PREFIX = "header:"


class RedactionRuleError(ValueError):
    """A ``--redact`` rule that cannot be parsed; the message says which and why."""


@dataclass(frozen=True, kw_only=True)
class Rule:
    """One parsed rule: a body path on some sides, or a header name."""

    text: str
    sides: tuple[str, ...] = SIDES
    path: tuple[str, ...] = ()
    header: str = ""
    patterns: tuple[re.Pattern[str] | None, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if bool(self.path) == bool(self.header):
            raise RedactionRuleError(f"--redact {self.text!r}: give a body path or header:NAME")
        patterns = tuple(None if s == pathspec.ANY_LEVELS else pathspec.segment_pattern(s)
                         for s in self.path)
        object.__setattr__(self, "patterns", patterns)


@dataclass(frozen=True, kw_only=True)
class Redacted:
    """A record after redaction, with the original values that were removed."""

    record: dict[str, Any]
    values: tuple[str, ...] = ()
    matched: tuple[str, ...] = ()


def split_path(text: str) -> tuple[str, ...]:
    """Split a dotted path (``ipamx_spy.pathspec``); RedactionRuleError when malformed."""
    try:
        return pathspec.split_text(text)
    except pathspec.PathError as exc:
        raise RedactionRuleError(f"--redact {exc}") from None


def parse_rule(text: str) -> Rule:
    """One rule from its text. Raises RedactionRuleError (a ValueError) when malformed."""
    stripped = text.strip()
    if not stripped:
        raise RedactionRuleError("--redact: empty rule")
    if stripped.lower().startswith(HEADER_PREFIX):
        name = stripped[len(HEADER_PREFIX):].strip()
        if not name or ":" in name or " " in name:
            raise RedactionRuleError(f"--redact {text!r}: header:NAME needs one header name")
        return Rule(text=stripped, header=name.lower())
    segments = split_path(stripped)
    if segments[0] in SIDES and len(segments) > 1:
        return Rule(text=stripped, sides=(segments[0],), path=segments[1:])
    return Rule(text=stripped, path=segments)


def parse_rules(texts: Iterable[str]) -> tuple[Rule, ...]:
    """Parse every ``--redact`` value. Raises RedactionRuleError naming the first bad rule."""
    return tuple(parse_rule(t) for t in texts)


# -- applying -------------------------------------------------------------------------------


def _children(value: Any) -> Iterable[tuple[str, Any]]:
    if isinstance(value, dict):
        return ((str(k), k) for k in value)
    if isinstance(value, list):
        return ((str(i), i) for i in range(len(value)))
    return ()


def _strings(value: Any) -> list[str]:
    """The text a value holds (its string leaves; other scalars as JSON would print them)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict | list):
        return [s for _, key in _children(value) for s in _strings(value[key])]
    return [json.dumps(value)]


def _apply(value: Any, patterns: Sequence[re.Pattern[str] | None], found: list[str]) -> int:
    """Redact in place every value of ``value`` the patterns reach; how many were replaced.

    The text of what was replaced is added to ``found``.
    """
    if not patterns:
        return 0
    head, rest = patterns[0], patterns[1:]
    if head is None:  # ** : zero levels here, or one more level and stay on **
        count = _apply(value, rest, found)
        return count + sum(_apply(value[key], patterns, found) for _, key in _children(value))
    count = 0
    for text, key in list(_children(value)):
        if head.fullmatch(text) is None:
            continue
        if rest:
            count += _apply(value[key], rest, found)
        elif value[key] not in (None, "", REDACTED):
            found += _strings(value[key])
            value[key] = REDACTED
            count += 1
    return count


def _redact_body(message: dict[str, Any], rule: Rule, found: list[str]) -> int:
    body = message.get("body")
    if not isinstance(body, dict) or body.get("encoding") != "json":
        return 0
    count = _apply(body.get("json"), rule.patterns, found)
    if count and "text" in body:  # the original text would still hold the value
        del body["text"]
        body["layout"] = "go"
    return count


def _redact_headers(message: dict[str, Any], rule: Rule, found: list[str]) -> int:
    count = 0
    for pair in message.get("headers", []):
        if str(pair[0]).lower() == rule.header and pair[1] not in ("", REDACTED):
            found.append(str(pair[1]))
            pair[1] = REDACTED
            count += 1
    return count


def _fix_content_length(message: dict[str, Any]) -> None:
    try:
        length = str(len(decode_body(message.get("body"))))
    except RecordingError:
        return
    for pair in message.get("headers", []):
        if str(pair[0]).lower() == "content-length" and pair[1] != REDACTED:
            pair[1] = length


def _apply_rule(out: dict[str, Any], rule: Rule, found: list[str], resized: set[str]) -> int:
    count = 0
    for side in rule.sides:
        message = out.get(side)
        if not isinstance(message, dict):
            continue
        if rule.header:
            count += _redact_headers(message, rule, found)
            continue
        changed = _redact_body(message, rule, found)
        if changed:
            resized.add(side)
        count += changed
    return count


def redact_values(record: dict[str, Any], rules: Sequence[Rule]) -> Redacted:
    """Like ``redact_exchange_record``, also returning the values removed and the rules used."""
    if record.get("type") != "exchange" or not rules:
        return Redacted(record=record)
    out = copy.deepcopy(record)
    found: list[str] = []
    resized: set[str] = set()
    matched = [rule.text for rule in rules if _apply_rule(out, rule, found, resized)]
    if not matched:
        return Redacted(record=record)
    for side in resized:
        _fix_content_length(out[side])
    out["redacted"] = sorted(set(record.get("redacted", [])) | set(matched))
    return Redacted(record=out, values=tuple(found), matched=tuple(matched))


def redact_exchange_record(record: dict[str, Any], rules: Sequence[Rule]) -> dict[str, Any]:
    """The record with every value the rules reach replaced by ``REDACTED``.

    Pure: the input is never modified. Records other than exchanges, and exchanges no rule
    reaches, are returned as they are (the same object). Get ``rules`` from ``parse_rules``.
    """
    return redact_values(record, rules).record


def redact_recording(
    recording: Recording, rules: Sequence[Rule],
) -> tuple[Recording, tuple[str, ...]]:
    """A recording with every exchange redacted, and the original values that were removed.

    The removed values let a caller scrub them from text made from the original (validation
    findings, for example): see ``scrub``.
    """
    if not rules:
        return recording, ()
    records: list[dict[str, Any]] = []
    values: list[str] = []
    for record in recording.records:
        result = redact_values(record, rules)
        records.append(result.record)
        values += result.values
    exchanges = tuple(Exchange.from_json(r) for r in records if r.get("type") == "exchange")
    redacted = Recording(header=recording.header, records=tuple(records), path=recording.path,
                         torn_tail=recording.torn_tail, exchanges=exchanges)
    return redacted, tuple(values)


def scrub(text: str, values: Iterable[str]) -> str:
    """``text`` with every redacted value (longest first) replaced by ``REDACTED``."""
    for value in sorted({v for v in values if v}, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text
