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
(``"Address": ""`` asks the allocator to choose). Bodies that are not JSON are left alone.

Faults are covered too: header rules also apply to ``NAME: value`` inside a fault's message and
inside the ``Err`` of an answer ipamx-spy wrote itself, and to the raw bytes of a request that
could not be parsed; body rules apply to those raw bytes when their body is JSON, and leave the
bytes out (``omitted``, with their length) when it is not, since the values cannot be found in
them. A record that changed gets a ``redacted`` key listing the rules that matched, and its
``Content-Length`` headers are set to the new body length, so the record stays self-consistent.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from . import pathspec
from .recording import (
    Exchange,
    Recording,
    RecordingError,
    decode_body,
    encode_body,
    go_json,
    header_docker_version,
)
from .records import AnsweredBy, RecordType

REDACTED = "«redacted»"
SIDES = ("request", "response")
HEADER_PREFIX = "header:"


class RedactionRuleError(ValueError):
    """A ``--redact`` rule that cannot be parsed; the message says which and why."""


@dataclass(frozen=True, kw_only=True)
class RedactionRule:
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


def parse_rule(text: str) -> RedactionRule:
    """One rule from its text. Raises RedactionRuleError (a ValueError) when malformed."""
    stripped = text.strip()
    if not stripped:
        raise RedactionRuleError("--redact: empty rule")
    if stripped.lower().startswith(HEADER_PREFIX):
        name = stripped[len(HEADER_PREFIX):].strip()
        if not name or ":" in name or " " in name:
            raise RedactionRuleError(f"--redact {text!r}: header:NAME needs one header name")
        return RedactionRule(text=stripped, header=name.lower())
    segments = split_path(stripped)
    if segments[0] in SIDES and len(segments) > 1:
        return RedactionRule(text=stripped, sides=(segments[0],), path=segments[1:])
    return RedactionRule(text=stripped, path=segments)


def parse_rules(texts: Iterable[str]) -> tuple[RedactionRule, ...]:
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


def _redact_body(message: dict[str, Any], rule: RedactionRule, found: list[str]) -> int:
    body = message.get("body")
    if not isinstance(body, dict) or body.get("encoding") != "json":
        return 0
    count = _apply(body.get("json"), rule.patterns, found)
    if count and "text" in body:  # the original text would still hold the value
        del body["text"]
        body["layout"] = "go"
    return count


def _redact_headers(message: dict[str, Any], rule: RedactionRule, found: list[str]) -> int:
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


def _apply_rule(out: dict[str, Any], rule: RedactionRule, found: list[str],
                resized: set[str]) -> int:
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


def redact_values(record: dict[str, Any], rules: Sequence[RedactionRule]) -> Redacted:
    """Like ``redact_exchange_record``, also returning the values removed and the rules used."""
    if not rules:
        return Redacted(record=record)
    if record.get("type") == RecordType.FAULT:
        return _redact_fault(record, rules)
    if record.get("type") != RecordType.EXCHANGE:
        return Redacted(record=record)
    out = copy.deepcopy(record)
    found: list[str] = []
    resized: set[str] = set()
    matched = [rule.text for rule in rules if _apply_rule(out, rule, found, resized)]
    if _scrub_spy_texts(out, rules, found, matched):
        resized.add("response")
    if not matched:
        return Redacted(record=record)
    for side in resized:
        if isinstance(out.get(side), dict):
            _fix_content_length(out[side])
    out["redacted"] = sorted(set(record.get("redacted", [])) | set(matched))
    return Redacted(record=out, values=tuple(found), matched=tuple(matched))


def _header_pattern(rule: RedactionRule) -> re.Pattern[str]:
    """``NAME: value`` inside free text (a fault message, a raw request head)."""
    return re.compile(rf"(?<![\w-])({re.escape(rule.header)}\s*:[ \t]*)([^\r\n\"'\\]+)",
                      re.IGNORECASE)


def _scrub_text(text: str, rules: Sequence[RedactionRule], found: list[str],
                matched: list[str]) -> str:
    """``text`` with header values of header rules and every value found so far replaced."""
    for rule in rules:
        if not rule.header:
            continue
        pattern = _header_pattern(rule)
        if pattern.search(text):
            found += [m.group(2) for m in pattern.finditer(text)]
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
            if rule.text not in matched:
                matched.append(rule.text)
    return scrub(text, found)


def _scrub_spy_texts(out: dict[str, Any], rules: Sequence[RedactionRule], found: list[str],
                     matched: list[str]) -> bool:
    """Scrub the fault message and an answer ipamx-spy wrote itself (its ``Err`` quotes the
    fault). True when the answer's body changed."""
    fault = out.get("fault")
    if isinstance(fault, dict) and isinstance(fault.get("message"), str):
        fault["message"] = _scrub_text(fault["message"], rules, found, matched)
    response = out.get("response")
    if out.get("answered_by") != AnsweredBy.SPY or not isinstance(response, dict):
        return False
    body = response.get("body")
    if not isinstance(body, dict) or body.get("encoding") != "json" \
            or not isinstance(body.get("json"), dict) or not isinstance(body["json"].get("Err"),
                                                                         str):
        return False
    text = body["json"]["Err"]
    scrubbed = _scrub_text(text, rules, found, matched)
    if scrubbed == text:
        return False
    body["json"]["Err"] = scrubbed
    body.pop("text", None)
    body["layout"] = "go"
    return True


OMITTED_REASON = ("the malformed request's bytes were left out by --redact (they are not "
                  "JSON, so the values to redact could not be found in them)")


def _redact_fault(record: dict[str, Any], rules: Sequence[RedactionRule]) -> Redacted:
    """A fault record: its message scrubbed, its raw bytes redacted like a request or left out.

    The raw bytes are a request that could not be parsed: header rules apply to its head, body
    rules to its body when that is JSON; a body that is not JSON is left out under body rules
    (with its length), since the values cannot be found in it."""
    out = dict(record)
    found: list[str] = []
    matched: list[str] = []
    data = record.get("data")
    if isinstance(data, dict) and data.get("encoding") not in {None, "empty", "omitted"}:
        try:
            raw = decode_body(data)
        except RecordingError:
            raw = b""
        head, sep, body = raw.partition(b"\r\n\r\n")
        new_head = _scrub_text(head.decode("utf-8", "surrogateescape"), rules, found,
                               matched).encode("utf-8", "surrogateescape")
        new_body = _redact_raw_json(body, rules, found, matched)
        if new_body is None:
            out["data"] = {"encoding": "omitted", "reason": OMITTED_REASON, "length": len(raw)}
            matched += [r.text for r in rules if r.path and r.text not in matched]
        elif matched:
            out["data"] = encode_body(new_head + sep + new_body)
    if isinstance(record.get("message"), str):
        out["message"] = _scrub_text(record["message"], rules, found, matched)
    if not matched:
        return Redacted(record=record)
    out["redacted"] = sorted(set(record.get("redacted", [])) | set(matched))
    return Redacted(record=out, values=tuple(found), matched=tuple(matched))


def _redact_raw_json(body: bytes, rules: Sequence[RedactionRule], found: list[str],
                     matched: list[str]) -> bytes | None:
    """A raw request body with the body rules applied; None when they cannot be (not JSON)."""
    path_rules = [r for r in rules if r.path and "request" in r.sides]
    if not body.strip() or not path_rules:
        return body
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return None
    hits = [r.text for r in path_rules if _apply(value, r.patterns, found)]
    if not hits:
        return body
    matched += [h for h in hits if h not in matched]
    return (go_json(value) + "\n").encode("utf-8")


def redact_exchange_record(record: dict[str, Any],
                           rules: Sequence[RedactionRule]) -> dict[str, Any]:
    """The record with every value the rules reach replaced by ``REDACTED``.

    Pure: the input is never modified. Records other than exchanges, and exchanges no rule
    reaches, are returned as they are (the same object). Get ``rules`` from ``parse_rules``.
    """
    return redact_values(record, rules).record


def redact_recording(
    recording: Recording, rules: Sequence[RedactionRule],
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
    version = header_docker_version(recording.header)
    exchanges = tuple(Exchange.from_json(r, docker_version=version) for r in records
                      if r.get("type") == RecordType.EXCHANGE)
    if len(exchanges) == len(recording.exchanges):  # the roles follow the values as recorded
        exchanges = tuple(replace(shown, address_role=original.address_role)
                          if original.address_role is not None else shown
                          for shown, original in zip(exchanges, recording.exchanges,
                                                     strict=True))
    redacted = Recording(header=recording.header, records=tuple(records), path=recording.path,
                         torn_tail=recording.torn_tail, exchanges=exchanges)
    return redacted, tuple(values)


def scrub(text: str, values: Iterable[str]) -> str:
    """``text`` with every redacted value (longest first) replaced by ``REDACTED``."""
    for value in sorted({v for v in values if v}, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text
