"""The filter language: which exchanges to show, export, check or replay (``--filter``).

In the spirit of mitmproxy's flow filters: tests (``~e RequestPool``, ``~c 500``, ``~err``)
joined with ``!`` (not), ``&`` (and; two tests side by side mean and too), ``|`` (or) and
parentheses; ``!`` binds tightest, then ``&``, then ``|``. A bare word is an endpoint test, so
``--filter RequestPool`` is ``~e RequestPool``. Values with spaces or one of ``()|&!~`` are
quoted with ``"`` or ``'`` (a backslash escapes the quote). Regexes are Python's, searched
case-insensitively.

``TESTS`` is the table of every test (its name, whether it takes a value, what it means);
``docs/filters.md`` is the user-facing description and ``ipamx-spy show --filter-help`` prints the
table. ``parse`` turns the text into a ``Filter``: a predicate over an exchange and its
``FilterContext`` (the section it belongs to and the validator's findings on it). A text that cannot
be parsed raises ``FilterError`` with the column where it goes wrong.

The grammar is written with pyparsing; the predicates are small frozen dataclasses, so a
filter is built once and is cheap to call for every exchange of a live session.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pyparsing as pp

from . import pathspec, render
from .findings import SEVERITIES, Finding
from .recording import Exchange, Message, Recording
from .records import SectionSource


class FilterError(ValueError):
    """A filter that cannot be parsed; ``column`` (1-based) says where, ``str()`` shows it.

    Callers print the message and exit with the usage exit code.
    """

    def __init__(self, text: str, column: int, reason: str) -> None:
        self.text, self.column, self.reason = text, column, reason
        super().__init__(f"filter {text!r}, column {column}: {reason}")

    def pointer(self) -> str:
        """The filter on one line and a caret under the column, for a terminal (a tab
        before the column is a tab under it too, so the caret keeps its place)."""
        under = "".join("\t" if c == "\t" else " " for c in self.text[:self.column - 1])
        return f"  {self.text}\n  {under}^"


@dataclass(frozen=True, kw_only=True)
class FilterContext:
    """What a filter may know about an exchange besides the exchange itself."""

    section_title: str = ""
    section_source: SectionSource | None = None
    findings: tuple[Finding, ...] = ()


EMPTY = FilterContext()


class Filter:
    """A compiled filter: call it with an exchange and its context."""

    def __call__(self, exchange: Exchange, context: FilterContext = EMPTY) -> bool:
        raise NotImplementedError


# -- the tests ------------------------------------------------------------------------------


def _search(pattern: re.Pattern[str], texts: Sequence[str]) -> bool:
    return any(pattern.search(t) for t in texts)


MessageSide = Literal["q", "s", ""]
"""Which message of an exchange a filter reads (mitmproxy's ``~bq``/``~bs``): the request, the
answer, or both."""


def _messages(exchange: Exchange, side: MessageSide) -> list[Message]:
    both = [exchange.request] + ([exchange.response] if exchange.response else [])
    return both[:1] if side == "q" else both[1:] if side == "s" else both


def _body_text(message: Message) -> str:
    if message.body.get("encoding") == "json":
        return json.dumps(message.value, ensure_ascii=False, separators=(",", ":"))
    return message.raw_body.decode("utf-8", "replace")


@dataclass(frozen=True)
class Test(Filter):
    """One ``~name value`` test; ``check`` decides it."""

    name: str
    value: str
    check: Callable[[Exchange, FilterContext], bool] = field(compare=False, repr=False)

    def __call__(self, exchange: Exchange, context: FilterContext = EMPTY) -> bool:
        return self.check(exchange, context)

    def __str__(self) -> str:
        spec = TESTS.get(self.name)
        needs_value = spec is not None and bool(spec.value) and self.name not in OPTIONAL_VALUE
        if self.value or needs_value:  # an empty value is printed quoted: ~e ""
            return f"~{self.name} {_quote(self.value)}"
        return f"~{self.name}"


@dataclass(frozen=True)
class Not(Filter):
    inner: Filter

    def __call__(self, exchange: Exchange, context: FilterContext = EMPTY) -> bool:
        return not self.inner(exchange, context)

    def __str__(self) -> str:
        return f"!{self.inner}"


@dataclass(frozen=True)
class All(Filter):
    parts: tuple[Filter, ...]

    def __call__(self, exchange: Exchange, context: FilterContext = EMPTY) -> bool:
        return all(p(exchange, context) for p in self.parts)

    def __str__(self) -> str:
        return "(" + " & ".join(map(str, self.parts)) + ")"


@dataclass(frozen=True)
class Any_(Filter):
    parts: tuple[Filter, ...]

    def __call__(self, exchange: Exchange, context: FilterContext = EMPTY) -> bool:
        return any(p(exchange, context) for p in self.parts)

    def __str__(self) -> str:
        return "(" + " | ".join(map(str, self.parts)) + ")"


def _quote(value: str) -> str:
    if value and re.fullmatch(r"[^\s()|&!~\"']+", value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


Builder = Callable[[str], Callable[[Exchange, FilterContext], bool]]
"""Turns a test's value into its check; raises ValueError with the reason when it cannot."""


def _regex(value: str) -> re.Pattern[str]:
    try:
        return re.compile(value, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"not a regular expression ({exc})") from None


def _endpoint(value: str) -> Callable[[Exchange, FilterContext], bool]:
    pattern = _regex(value)
    return lambda e, c: pattern.search(e.endpoint) is not None


def _status(value: str) -> Callable[[Exchange, FilterContext], bool]:
    match = re.fullmatch(r"([1-5])xx", value, re.IGNORECASE)
    low: float
    high: float | None
    if match:
        low, high = int(match[1]) * 100, int(match[1]) * 100 + 99
    else:
        try:
            low, high = _number_range(value, int)
        except ValueError:
            raise ValueError("needs a status code: 500, 5xx or 400-499") from None
    return lambda e, c: e.status is not None and low <= e.status <= (999 if high is None else high)


def _number_range(text: str, kind: Callable[[str], float]) -> tuple[float, float | None]:
    """``N``, ``N-M``, ``N-`` or ``-M``; raises ValueError."""
    low, dash, high = text.partition("-")
    start = kind(low) if low.strip() else 0
    end = (kind(high) if high.strip() else None) if dash else start
    if end is not None and end < start:
        raise ValueError(f"{text!r} is an empty range")
    return start, end


def _within(value: str, kind: Callable[[str], float], what: str,
            get: Callable[[Exchange], float]) -> Callable[[Exchange, FilterContext], bool]:
    ranges = []
    for part in value.split(","):
        try:
            ranges.append(_number_range(part.replace("s", "") if what == "seconds" else part, kind))
        except ValueError:
            raise ValueError(f"needs {what}: N, N-M, N- or -M, comma-separated") from None
    return lambda e, c: any(lo <= get(e) and (hi is None or get(e) <= hi) for lo, hi in ranges)


def _body(side: MessageSide) -> Builder:
    def build(value: str) -> Callable[[Exchange, FilterContext], bool]:
        pattern = _regex(value)
        return lambda e, c: _search(pattern, [_body_text(m) for m in _messages(e, side)])
    return build


def _header(side: MessageSide) -> Builder:
    def build(value: str) -> Callable[[Exchange, FilterContext], bool]:
        pattern = _regex(value)
        return lambda e, c: _search(pattern, [f"{k}: {v}" for m in _messages(e, side)
                                              for k, v in m.headers])
    return build


def _json_path(value: str) -> Callable[[Exchange, FilterContext], bool]:
    try:
        pattern = pathspec.parse(value)
    except pathspec.PathError as exc:
        raise ValueError(str(exc)) from None
    return lambda e, c: any(_reaches(m.value, pattern.patterns) for m in _messages(e, ""))


def _reaches(value: object, patterns: tuple[re.Pattern[str] | None, ...]) -> bool:
    """True when a value exists at the path (``null`` counts; absent does not)."""
    if not patterns:
        return True
    head, rest = patterns[0], patterns[1:]
    children: list[tuple[str, object]] = (
        [(str(k), v) for k, v in value.items()] if isinstance(value, dict)
        else [(str(i), v) for i, v in enumerate(value)] if isinstance(value, list) else [])
    if head is None:
        return _reaches(value, rest) or any(_reaches(v, patterns) for _, v in children)
    return any(head.fullmatch(k) and _reaches(v, rest) for k, v in children)


def _fault(value: str) -> Callable[[Exchange, FilterContext], bool]:
    pattern = _regex(value or ".")
    return lambda e, c: e.fault is not None and bool(
        pattern.search(f"{e.fault.side}/{e.fault.kind}"))


def _section(marked: bool) -> Builder:
    def build(value: str) -> Callable[[Exchange, FilterContext], bool]:
        pattern = _regex(value)
        return lambda e, c: (not marked or c.section_source is SectionSource.MARKER) and bool(
            pattern.search(c.section_title))
    return build


def _rule(value: str) -> Callable[[Exchange, FilterContext], bool]:
    pattern = _regex(value)
    return lambda e, c: any(pattern.search(f.code) for f in c.findings)


def _severity(value: str) -> Callable[[Exchange, FilterContext], bool]:
    if value not in SEVERITIES:
        raise ValueError(f"needs a severity: {', '.join(SEVERITIES)}")
    worst = SEVERITIES.index(value)
    return lambda e, c: any(SEVERITIES.index(f.severity) <= worst for f in c.findings)


@dataclass(frozen=True, kw_only=True)
class TestSpec:
    """A row of ``TESTS``: a test's name, its value (``""`` for none), and what it means."""

    name: str
    value: str
    meaning: str
    build: Builder


TESTS: dict[str, TestSpec] = {spec.name: spec for spec in (
    TestSpec(name="e", value="REGEX", meaning="endpoint name (IpamDriver.RequestPool); a bare "
             "word means the same", build=_endpoint),
    TestSpec(name="c", value="CODE", meaning="response status: 500, 5xx or 400-499",
             build=_status),
    TestSpec(name="err", value="", meaning="failed as dockerd sees it (an Err or Error it "
             "reports, a non-200, a fault)",
             build=lambda v: lambda e, c: render.problem(e) is not None),
    TestSpec(name="fault", value="[KIND]", meaning="ipamx-spy recorded a transport fault, "
             "optionally of this kind (plugin/closed, plugin/timeout, docker/malformed ...)",
             build=_fault),
    TestSpec(name="q", value="", meaning="a request that got no answer",
             build=lambda v: lambda e, c: e.response is None),
    TestSpec(name="b", value="REGEX", meaning="request or response body", build=_body("")),
    TestSpec(name="bq", value="REGEX", meaning="request body", build=_body("q")),
    TestSpec(name="bs", value="REGEX", meaning="response body", build=_body("s")),
    TestSpec(name="h", value="REGEX", meaning="a request or response header line 'Name: value'",
             build=_header("")),
    TestSpec(name="hq", value="REGEX", meaning="a request header line", build=_header("q")),
    TestSpec(name="hs", value="REGEX", meaning="a response header line", build=_header("s")),
    TestSpec(name="j", value="PATH", meaning="a body has a value at PATH (the --redact / "
             "--ignore path language: Options.*macaddress, **.Gateway)", build=_json_path),
    TestSpec(name="conn", value="N", meaning="docker-side connection number: 2, 1-3",
             build=lambda v: _within(v, int, "connection numbers", lambda e: e.conn)),
    TestSpec(name="n", value="RANGE", meaning="exchange numbers, as --range: 3-7, 5, 3-, "
             "1,4-6", build=lambda v: _within(v, int, "exchange numbers", lambda e: e.seq)),
    TestSpec(name="t", value="SECONDS", meaning="time since the recording started: 1.5-3, 10-, "
             "-2s", build=lambda v: _within(v, float, "seconds", lambda e: e.t)),
    TestSpec(name="ms", value="RANGE", meaning="answer latency in milliseconds: 1000-",
             build=lambda v: _within(v, float, "milliseconds", lambda e: e.duration_ms)),
    TestSpec(name="sec", value="REGEX", meaning="title of the exchange's section (a marker's "
             "text or the inferred docker command)", build=_section(marked=False)),
    TestSpec(name="mark", value="REGEX", meaning="inside a section opened by a marker whose "
             "text matches", build=_section(marked=True)),
    TestSpec(name="rule", value="CODE", meaning="the validator found this rule: IPX403, IPX1",
             build=_rule),
    TestSpec(name="sev", value="LEVEL", meaning="a finding at least this severe: error, "
             "warning, info", build=_severity),
    TestSpec(name="all", value="", meaning="every exchange",
             build=lambda v: lambda e, c: True),
)}
# ~fault takes an optional pattern; every other test either needs its value or takes none.
OPTIONAL_VALUE = frozenset({"fault"})


# -- the grammar ----------------------------------------------------------------------------

_VALUE_CHARS = r"[^\s()|&!~\"']+"


def _fail(text: str, loc: int, reason: str) -> pp.ParseFatalException:
    return pp.ParseFatalException(text, loc, reason)


def _token_start(text: str, loc: int) -> int:
    """Where the token a parse action was given starts. pyparsing hands the element after
    another in a sequence (a test after ``!``) the location before the spaces between them,
    and the caret belongs under the token."""
    while loc < len(text) and text[loc] in pp.ParserElement.DEFAULT_WHITE_CHARS:
        loc += 1
    return loc


def _make_test(text: str, loc: int, tokens: pp.ParseResults) -> Filter:
    loc = _token_start(text, loc)
    name = str(tokens[0])[1:]
    value = str(tokens[1]) if len(tokens) > 1 else None
    spec = TESTS.get(name)
    if spec is None:
        known = " ".join(f"~{n}" for n in TESTS)
        raise _fail(text, loc, f"unknown test ~{name} (known: {known})")
    if spec.value and value is None and name not in OPTIONAL_VALUE:
        raise _fail(text, loc + len(name) + 1,
                    f"~{name} needs a value ({spec.value}: {spec.meaning})")
    try:
        check = spec.build(value or "")
    except ValueError as exc:
        where = text.find(value, loc) if value else loc
        raise _fail(text, max(where, loc), f"~{name}: {exc}") from None
    return Test(name, value or "", check)


def _make_bare(text: str, loc: int, tokens: pp.ParseResults) -> Filter:
    loc = _token_start(text, loc)
    try:
        return Test("e", str(tokens[0]), _endpoint(str(tokens[0])))
    except ValueError as exc:
        raise _fail(text, loc, f"endpoint {tokens[0]!r}: {exc}") from None


def _combine(kind: type[All] | type[Any_]) -> Callable[[pp.ParseResults], Filter]:
    def action(tokens: pp.ParseResults) -> Filter:
        parts = tuple(t for t in tokens if isinstance(t, Filter))
        return parts[0] if len(parts) == 1 else kind(parts)
    return action


def _negate(tokens: pp.ParseResults) -> Filter:
    inner = tokens[-1]
    for _ in range(len(tokens) - 1):
        inner = Not(inner)
    return inner  # type: ignore[no-any-return]


@functools.cache
def _grammar() -> pp.ParserElement:
    quoted = (pp.QuotedString('"', esc_char="\\", unquote_results=True)
              | pp.QuotedString("'", esc_char="\\", unquote_results=True))
    value = quoted | pp.Regex(_VALUE_CHARS)
    no_value = "|".join(sorted((n for n, s in TESTS.items() if not s.value), key=len,
                               reverse=True))
    flag = pp.Regex(rf"~(?:{no_value})(?![A-Za-z])")
    optional = pp.Regex(rf"~(?:{'|'.join(OPTIONAL_VALUE)})(?![A-Za-z])") + pp.Opt(value)
    test = flag | optional | (pp.Regex(r"~[A-Za-z]*") + pp.Opt(value))
    test.set_parse_action(_make_test)
    bare = value.copy().set_parse_action(_make_bare)
    expr = pp.Forward()
    group = pp.Suppress("(") + expr + pp.Suppress(pp.Literal(")") | _missing(")"))
    atom = group | test | bare
    negated = (pp.ZeroOrMore(pp.Literal("!")) + atom).set_parse_action(_negate)
    conjunction = (negated + pp.ZeroOrMore(pp.Opt(pp.Suppress("&")) + negated)
                   ).set_parse_action(_combine(All))
    disjunction = (conjunction + pp.ZeroOrMore(pp.Suppress("|") + conjunction)
                   ).set_parse_action(_combine(Any_))
    expr <<= disjunction
    # tabs kept: the columns of errors are the user's own text's, not of its tabs expanded
    return (expr + pp.StringEnd()).parse_with_tabs()


def _missing(what: str) -> pp.ParserElement:
    def action(text: str, loc: int, _tokens: pp.ParseResults) -> None:
        found = repr(text[loc]) if loc < len(text) else "the end of the filter"
        raise _fail(text, loc, f"expected {what!r} to close the '(', found {found}")
    return pp.Empty().set_parse_action(action)


@functools.lru_cache(maxsize=256)
def parse(text: str) -> Filter:
    """The filter for ``text``. Raises FilterError (a ValueError) with the column at fault."""
    if not text.strip():
        raise FilterError(text, 1, "the filter is empty (give ~all to keep everything)")
    try:
        result = _grammar().parse_string(text, parse_all=True)
    except pp.ParseBaseException as exc:
        raise FilterError(text, exc.col, _reason(text, exc)) from None
    return result[0]  # type: ignore[no-any-return]


def _reason(text: str, exc: pp.ParseBaseException) -> str:
    if isinstance(exc, pp.ParseFatalException):
        return str(exc.msg)
    if exc.loc >= len(text.rstrip()):
        return "the filter ends too early (a test or a value is missing after an operator)"
    char = text[exc.loc]
    if char == ")":
        return "')' without a '(' before it"
    if char in "|&":
        return f"{char!r} needs a test on both sides"
    return f"unexpected {char!r} (quote values that hold spaces or ()|&!~)"


def parse_all(texts: Sequence[str]) -> Filter | None:
    """Several ``--filter`` values as one filter (all must hold); None when there are none."""
    filters = tuple(parse(t) for t in texts)
    return None if not filters else filters[0] if len(filters) == 1 else All(filters)


def describe() -> str:
    """The table of tests, one per line, for ``--filter-help``."""
    width = max(len(f"~{s.name} {s.value}") for s in TESTS.values())
    lines = [f"  {f'~{s.name} {s.value}'.rstrip():<{width}}  {s.meaning}" for s in TESTS.values()]
    return "\n".join([
        "Filter tests (join with ! & | and parentheses; a bare word is ~e WORD):",
        *lines,
        "Example: --filter '~e RequestAddress & (~err | ~ms 1000-) & !~mark setup'",
    ])


def contexts(recording: Recording, findings: Sequence[Finding] = ()) -> dict[int, FilterContext]:
    """The context of every exchange of a recording: its section and its findings."""
    from . import infer

    found: dict[int, tuple[Finding, ...]] = {}
    for finding in findings:
        found[finding.seq] = (*found.get(finding.seq, ()), finding)
    return {e.seq: FilterContext(section_title=s.title, section_source=s.source,
                           findings=found.get(e.seq, ()))
            for s in infer.sections(recording) for e in s.exchanges}


def select_findings(recording: Recording, findings: Sequence[Finding],
                    chosen: Filter) -> list[Finding]:
    """The findings about exchanges the filter keeps; session-wide ones (seq 0) always stay."""
    by_seq = {e.seq: e for e in recording.exchanges}
    context = contexts(recording, findings)
    keep = {seq for seq, e in by_seq.items() if chosen(e, context.get(seq, EMPTY))}
    return [f for f in findings if f.seq == 0 or f.seq in keep]


def kept_in_file(path: Path, chosen: Filter,
                 about: Mapping[int, tuple[Finding, ...]]) -> set[int]:
    """Of the exchanges numbered in ``about``, those the filter keeps, each judged with its
    section and the findings ``about`` gives it: the file read record by record (markers and
    what inference looks ahead for first, then ``infer.stream_sections``), so memory does not
    grow with the recording."""
    from .infer import LookaheadSurvey, stream_sections
    from .recording_reader import RecordingReader
    from .records import RecordType

    survey = LookaheadSurvey()
    markers = []
    with RecordingReader(path) as reader:
        for record, exchange in reader:
            if exchange is not None:
                survey.add(exchange)
            elif record.get("type") == RecordType.MARKER:
                markers.append(record)
    alone = survey.released_alone(markers)
    keep: set[int] = set()
    with RecordingReader(path) as reader:
        for section in stream_sections(reader.exchanges(), markers, released_alone=alone):
            for exchange in section.exchanges:
                found = about.get(exchange.seq)
                if found is None:
                    continue
                if chosen(exchange, FilterContext(section_title=section.title,
                                            section_source=section.source, findings=found)):
                    keep.add(exchange.seq)
                else:  # the last exchange of a number decides, as in ``select_findings``
                    keep.discard(exchange.seq)
    return keep
