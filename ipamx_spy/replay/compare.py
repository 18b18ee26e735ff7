"""Verdicts on one exchange: does the live answer mean to dockerd what the recorded one meant?

Theory of operation
-------------------
Bytes never decide. First the transport (an answer at all), then the status, then what dockerd
makes of each answer (PROTOCOL.md 1.3: success needs 200 and a JSON body; the error field is
``Error`` for IPAM and ``Err`` otherwise; ``dockerd.read_answer``, as the recording's daemon
reads it). An error must meet an error and a success a success (an error dockerd only logs is
said to be one). Two errors are equal enough unless ``strict``. Two successes are compared
field by field:

* a field the plugin chooses (the endpoint rows' ``chosen`` paths) only has to be *valid*:
  the row's ``validity`` holds one small rule per path (``dockerd/choices.py``), using the
  ``Ledger`` of what the live plugin has handed out;
* every other field must equal the recorded value after bindings; absent, null and zero are
  the same to Go's decoder, and unknown top-level keys are ignored, as dockerd ignores them;
* a field of the wrong JSON type is reported as dockerd's decoder would report it.

``strict`` drops the chosen paths and the zero and unknown-key leniency: equal values
everywhere after bindings. ``ignore`` paths are never looked at.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ipamx_spy import dockerd
from ipamx_spy.app import normalise_keys
from ipamx_spy.dockerd.choices import show as show_value
from ipamx_spy.dockerd.ledger import Ledger
from ipamx_spy.recording import Exchange, made
from ipamx_spy.validate.plain import Shapes, plain

from . import paths
from .bindings import Bindings

JSON = Any


@dataclass(frozen=True, kw_only=True)
class Rules:
    strict: bool = False
    ignore: tuple[str, ...] = ()

    def ignored(self, endpoint: str) -> tuple[str, ...]:
        """The ``--ignore`` paths for one endpoint (``Endpoint:PATH`` or plain ``PATH``)."""
        out = []
        for rule in self.ignore:
            name, sep, path = rule.rpartition(":")
            if not sep or "." not in name:
                out.append(rule)
            elif name == endpoint:
                out.append(path)
        return tuple(out)


@dataclass(frozen=True, kw_only=True)
class Live:
    """The answer the target gave."""

    status: int
    body: bytes
    content_type: str | None = None
    elapsed_ms: float = 0.0


class ProblemKind(StrEnum):
    """What a ``Problem`` is about; the value is the word in reports and ``--json``."""

    TRANSPORT = "transport"  # no answer at all
    STATUS = "status"  # another HTTP status
    BODY = "body"  # a body dockerd cannot decode as JSON
    OUTCOME = "outcome"  # an error where the recording succeeded, or the other way round
    MISSING = "missing"  # a required field absent
    TYPE = "type"  # a field of the wrong JSON type
    INVALID = "invalid"  # a field the plugin chooses, with a value dockerd would refuse
    VALUE = "value"  # a field that differs from the recorded value
    ERROR_TEXT = "error-text"  # another error text (--strict)


@dataclass(frozen=True, kw_only=True)
class Problem:
    """One way the live answer differs from the recording, in words. ``kind`` given as its
    word is converted on construction (any other word raises ``ValueError``)."""

    kind: ProblemKind
    message: str
    path: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ProblemKind(self.kind))

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind.value, "path": self.path, "message": self.message}


@dataclass(frozen=True, kw_only=True)
class DecodedAnswer:
    """What dockerd makes of an answer: the authority's ``outcome`` and ``error``, and the
    body's JSON ``value`` (the text when it is not JSON) for the field comparison."""

    value: JSON
    is_json: bool
    error: str | None
    outcome: dockerd.Outcome = dockerd.Outcome.SUCCESS
    log_line: str | None = None  # LOGGED: the line dockerd writes (``Verdict.shown_log_line``)


def outcome(endpoint: str, status: int, body: bytes,
            version: dockerd.DockerVersion | str | None = None, *,
            request: JSON = None, role: dockerd.AddressRole | None = None) -> DecodedAnswer:
    """Decode an answer the way dockerd ``version`` does (PROTOCOL.md 1.3), for ``request``
    (the decoded request: a gateway address's error is worded for it) and ``role`` (what a
    released address is: the log line's words); the verdict is ``dockerd.read_answer``'s.
    Raises ``ValueError`` for a malformed ``version``."""
    found = dockerd.read_answer(endpoint, status, None, body, version,
                                request=request if isinstance(request, Mapping) else None,
                                role=role)
    try:
        value, is_json = (json.loads(body), True) if body.strip() else (None, False)
    except ValueError:
        value, is_json = body.decode("utf-8", "replace"), False
    return DecodedAnswer(value=value, is_json=is_json, error=found.error,
                         outcome=found.outcome, log_line=found.shown_log_line)


_SHAPES: dict[int, Shapes] = {}  # the plain lane's shapes, per dockerd major version


def _shapes(version: dockerd.DockerVersion) -> Shapes:
    known = _SHAPES.get(version.major)
    if known is None:
        known = _SHAPES[version.major] = Shapes(version.major)
    return known


def answer_version(exchange: Exchange) -> dockerd.DockerVersion:
    """The daemon a recorded exchange's answers are read as: its recording header's
    ``docker_version``, or the authority's default when it names none or no version."""
    return dockerd.DockerVersion.or_default(exchange.docker_version)


def recorded_outcome(exchange: Exchange, body: bytes,
                     version: dockerd.DockerVersion | None = None) -> DecodedAnswer:
    """``outcome`` of a recorded answer (``body``: its bytes, ``raw_body``), without decoding
    it again when it is plain (``validate.plain``: a 200 whose stored JSON holds exactly the
    Go fields of the answer, of their types, required ones filled, the error empty; dockerd
    takes it by construction, and its stored value is what ``json.loads`` makes of
    ``body``). ``version`` defaults to ``answer_version(exchange)``.
    ``tests/test_replay_compare.py`` checks both ways agree on every recording."""
    version = version or answer_version(exchange)
    response = exchange.response
    if response is not None and plain(exchange, _shapes(version), math.inf) is not None:
        return made(DecodedAnswer, value=response.value, is_json=True, error=None,
                    outcome=dockerd.Outcome.SUCCESS, log_line=None)  # every field given
    status = response.status if response is not None else 0
    return outcome(exchange.endpoint, status, body, version, request=exchange.request.value,
                   role=exchange.address_role)


def show(value: JSON) -> str:
    return "nothing (absent)" if value is paths.MISSING else show_value(value)


def _snippet(body: bytes) -> str:
    text = " ".join(body.decode("utf-8", "replace").split())
    return text if len(text) <= 60 else text[:57] + "..."


def compare(*, endpoint: str, request: JSON, recorded_status: int, recorded_body: bytes,
            live: Live, bindings: Bindings, ledger: Ledger, rules: Rules,
            version: dockerd.DockerVersion | str | None = None) -> list[Problem]:
    """Every problem with ``live`` against the recorded answer; empty when it conforms.

    ``request`` is the request as sent (after bindings); ``bindings`` and ``ledger`` are as they
    were before this exchange (the caller learns from it afterwards).
    """
    if live.status == recorded_status and live.body == recorded_body:
        return []  # what dockerd accepted (or refused) in the recording, byte for byte
    return compare_read(endpoint=endpoint, request=request, recorded_status=recorded_status,
                        expected=outcome(endpoint, recorded_status, recorded_body, version,
                                         request=request),
                        actual=outcome(endpoint, live.status, live.body, version,
                                       request=request), live=live,
                        bindings=bindings, ledger=ledger, rules=rules)


def compare_read(*, endpoint: str, request: JSON, recorded_status: int,
                 expected: DecodedAnswer, actual: DecodedAnswer, live: Live,
                 bindings: Bindings, ledger: Ledger, rules: Rules) -> list[Problem]:
    """``compare`` of a live answer that is not the recorded one byte for byte, given what
    dockerd makes of each (``outcome``): the caller that read them keeps them."""
    found: list[Problem] = []
    if live.status != recorded_status:
        found.append(Problem(kind=ProblemKind.STATUS, message=(
            f"status: the recording has HTTP {recorded_status}, the plugin answered HTTP "
            f"{live.status}")))
    found += _body_problems(expected, actual, live)
    found += _outcome_problems(expected, actual, bindings, rules.strict)
    if found or expected.error is not None or not (expected.is_json and actual.is_json):
        return found
    context = CompareContext(endpoint=endpoint, request=request, ledger=ledger)
    return _field_problems(context, expected.value, actual.value, bindings, rules)


def _body_problems(expected: DecodedAnswer, actual: DecodedAnswer, live: Live) -> list[Problem]:
    if actual.is_json or not expected.is_json:
        return []
    kind = f" ({live.content_type})" if live.content_type else ""
    does = "only logs" if actual.outcome is dockerd.Outcome.LOGGED else "fails with"
    if live.status == 200 and not live.body.strip():
        return [Problem(kind=ProblemKind.BODY, message=(
            f"HTTP 200 with an empty body: dockerd {does} '{actual.error}'"))]
    if live.status == 200:
        return [Problem(kind=ProblemKind.BODY, message=(
            f"the answer is not JSON{kind}: dockerd {does} '{actual.error}'; "
            f"it begins {_snippet(live.body)!r}"))]
    return [Problem(kind=ProblemKind.BODY, message=(
        f"the error is not JSON{kind}, so dockerd shows the raw body as the error text: "
        f"{_snippet(live.body)!r}"))]


def _logged(answer: DecodedAnswer) -> str:
    """How a failure dockerd only logs is said, with the line it logs when it has one."""
    line = f", as: {answer.log_line}" if answer.log_line else ""
    return f" (dockerd only logs it{line}; the command goes on)"



def _outcome_problems(expected: DecodedAnswer, actual: DecodedAnswer, bindings: Bindings,
                      strict: bool) -> list[Problem]:
    if expected.error is None and actual.error is not None:
        return [Problem(kind=ProblemKind.OUTCOME, message=(
            f"dockerd would see an error, '{actual.error}', where the recording succeeded"
            f"{_logged(actual) if actual.outcome is dockerd.Outcome.LOGGED else ''}"))]
    if expected.error is not None and actual.error is None:
        return [Problem(kind=ProblemKind.OUTCOME, message=(
            f"dockerd would see success where the recording has the error "
            f"'{expected.error}'"))]
    if strict and expected.error is not None and actual.error is not None:
        wanted = bindings.translate_text(expected.error)
        if wanted != actual.error:
            return [Problem(kind=ProblemKind.ERROR_TEXT, message=(
                f"error text: the recording has {wanted!r}, the plugin said "
                f"{actual.error!r} (--strict)"))]
    return []


@dataclass(frozen=True, kw_only=True)
class CompareContext:
    endpoint: str
    request: JSON
    ledger: Ledger

    @property
    def asked(self) -> Mapping[str, JSON]:
        return self.request if isinstance(self.request, Mapping) else {}


def _field_problems(context: CompareContext, recorded: JSON, live: JSON, bindings: Bindings,
                    rules: Rules) -> list[Problem]:
    row = dockerd.ANY_BY_NAME.get(context.endpoint)
    fields = row.response if row is not None else ()
    live = paths.normalise(normalise_keys(live, fields), recorded)
    if not isinstance(recorded, Mapping) or not isinstance(live, Mapping):
        return [Problem(kind=ProblemKind.VALUE, message=(
            f"the recording has {show(recorded)}, the plugin answered {show(live)}"))] \
            if paths.diff(recorded, live) else []
    ignored = rules.ignored(context.endpoint)
    if not rules.strict:
        known = {f.name for f in fields} if row is not None else set(live)
        live = {k: v for k, v in live.items() if k in known or k in recorded}
    found, bad = _type_problems(fields, recorded, live, ignored)
    chosen = () if rules.strict else _chosen(row, context)
    found += _validity_problems(context, live, [c for c in chosen if c not in bad], ignored)
    skip = (*ignored, *bad, *chosen)
    for difference in paths.diff(recorded, live, translate=bindings.translate,
                                 zero_equal=not rules.strict,
                                 prune=lambda path: paths.matches(path, skip)):
        where = paths.render(difference.path)
        found.append(Problem(kind=ProblemKind.VALUE, path=where, message=(
            f"{where}: the recording has {show(difference.expected)}, the plugin answered "
            f"{show(difference.actual)}")))
    return found


def _chosen(row: dockerd.AnyRow | None, context: CompareContext) -> tuple[str, ...]:
    return chosen_paths(context.endpoint, context.asked)


def chosen_paths(endpoint: str, request: JSON) -> tuple[str, ...]:
    """The response paths the plugin is free to choose for this request."""
    row = dockerd.ANY_BY_NAME.get(endpoint)
    own = row.chosen(request if isinstance(request, Mapping) else {}) if row is not None else ()
    return own


def wrong_paths(endpoint: str, request: JSON, problems: list[Problem]) -> set[str]:
    """Paths whose live values are wrong, not merely other choices (``--strict`` reports a
    different choice as a problem too; bindings must still learn it)."""
    if not problems:
        return set()
    chosen = chosen_paths(endpoint, request)
    return {p.path for p in problems
            if not (p.kind is ProblemKind.VALUE and paths.matches(paths.split(p.path), chosen))}


def _type_problems(fields: tuple[dockerd.Field, ...], recorded: Mapping[str, JSON],
                   live: Mapping[str, JSON],
                   ignored: tuple[str, ...]) -> tuple[list[Problem], list[str]]:
    found: list[Problem] = []
    bad: list[str] = []
    for spec in fields:
        if paths.matches((spec.name,), ignored):
            continue
        value = live.get(spec.name, paths.MISSING)
        if value is paths.MISSING:
            if spec.required and spec.name in recorded:
                found.append(Problem(kind=ProblemKind.MISSING, path=spec.name, message=(
                    f"{spec.name} is missing; the recording has {show(recorded[spec.name])}")))
                bad.append(spec.name)
            continue
        text = spec.problem(value)
        if text is not None:
            found.append(Problem(kind=ProblemKind.TYPE, path=spec.name, message=text))
            bad.append(spec.name)
    return found, bad


def _validity_problems(context: CompareContext, live: Mapping[str, JSON], chosen: list[str],
                       ignored: tuple[str, ...]) -> list[Problem]:
    row = dockerd.ANY_BY_NAME.get(context.endpoint)
    validity = row.validity if row is not None else {}
    found = []
    for path in chosen:
        rule = validity.get(path)
        if rule is None or paths.matches(paths.split(path), ignored):
            continue
        value = paths.get(live, paths.split(path))
        text = rule(context.asked, None if value is paths.MISSING else value, live,
                    context.ledger)
        if text is not None:
            found.append(Problem(kind=ProblemKind.INVALID, path=path, message=f"{path}: {text}"))
    return found
