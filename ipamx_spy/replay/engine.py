"""The replay loop: send each recorded request, compare each answer, learn bindings.

Theory of operation
-------------------
Exchanges go out in recorded order (``seq``), each on the connection it was recorded on. Before
sending, the recorded request is rewritten through the bindings (recorded -> live values the
plugin chose earlier) and re-encoded in its recorded layout. The answer is judged by
``compare`` against the recorded answer; only then are bindings learned from it and the
ledger updated, so a verdict never depends on its own exchange.

Exchanges the plugin never answered in the recording (a fault: the plugin hung up or was
unreachable, or ipamx-spy answered itself) are skipped: there is no answer to conform to.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from ipamx_spy import dockerd
from ipamx_spy.dockerd import DockerVersion, Endpoint
from ipamx_spy.dockerd.ledger import Ledger
from ipamx_spy.recording import (
    Exchange,
    Recording,
    RecordingError,
    header_docker_version,
    load,
    made,
)
from ipamx_spy.recording_reader import RecordingReader, in_seq_order, problem_text
from ipamx_spy.records import AnsweredBy

from .bindings import Bindings, rewrite_body
from .compare import (
    DecodedAnswer,
    Live,
    Problem,
    ProblemKind,
    Rules,
    answer_version,
    compare_read,
    outcome,
    recorded_outcome,
    wrong_paths,
)
from .target import Outgoing, ReplayNoAnswer, ReplayTarget, ReplayUnusable, TargetSpec

JSON = Any


class ReplayOutcome(StrEnum):
    """What replay made of one exchange; the value is the word in reports and ``--json``."""

    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"


PASS, FAIL, SKIP = ReplayOutcome.PASS, ReplayOutcome.FAIL, ReplayOutcome.SKIP


@dataclass(frozen=True, kw_only=True)
class ReplayVerdict:
    """The result of replaying one exchange."""

    seq: int
    conn: int
    endpoint: str
    outcome: ReplayOutcome
    meaning: str
    problems: tuple[Problem, ...] = ()
    skip_reason: str = ""
    recorded_status: int | None = None
    live_status: int | None = None
    expected: JSON = None
    actual: JSON = None
    sent: JSON = None
    rewritten: bool = False
    elapsed_ms: float = 0.0
    note: str = ""

    @property
    def failed(self) -> bool:
        return self.outcome == FAIL


@dataclass(frozen=True, kw_only=True)
class ReplayResult:
    """One recording replayed against one target."""

    source: str
    target: str
    rules: Rules
    verdicts: tuple[ReplayVerdict, ...] = ()
    bindings: dict[str, str] = field(default_factory=dict)
    unusable: str | None = None
    warnings: tuple[str, ...] = ()
    counts: Mapping[ReplayOutcome, int] | None = None
    """How many of each outcome, when ``verdicts`` holds only some (a streamed replay keeps
    the failed and skipped ones: see ``replay_path``); None when it holds every verdict."""

    def count(self, what: ReplayOutcome) -> int:
        if self.counts is not None:
            return self.counts.get(what, 0)
        return sum(1 for v in self.verdicts if v.outcome == what)

    @property
    def failures(self) -> list[ReplayVerdict]:
        return [v for v in self.verdicts if v.failed]

    @property
    def ok(self) -> bool:
        return self.unusable is None and not self.failures


def load_recording(path: Path | str) -> Recording:
    """Read a recording for replay. Raises ReplayUnusable with the reason."""
    try:
        recording = load(path)
    except (OSError, RecordingError) as exc:
        raise ReplayUnusable(problem_text(path, exc)) from exc
    if not recording.exchanges:
        raise ReplayUnusable(f"{path}: no exchanges to replay")
    return recording


def skip_reason(exchange: Exchange) -> str:
    """Why an exchange cannot be replayed as a check ("" when it can)."""
    if exchange.answered_by == AnsweredBy.SPY:
        what = exchange.fault.message if exchange.fault else "its own answer"
        return f"answered by ipamx-spy, not by the plugin ({what})"
    if exchange.response is None:
        what = exchange.fault.message if exchange.fault else "no answer"
        return f"the recorded plugin gave no answer ({what})"
    return ""


class Replayer:
    """Replays one recording on one open target; ``run()`` yields a verdict per exchange."""

    def __init__(self, recording: Recording, target: ReplayTarget, rules: Rules, *,
                 every_meaning: bool = True) -> None:
        self.recording = recording
        self.target = target
        self.rules = rules
        self.every_meaning = every_meaning
        """False: a verdict that passed gets no ``meaning`` (the sentence of its exchange,
        dockerd's reading of both messages: a third of the replay's own time), for a report
        that shows meanings only of the mismatches and skips."""
        self.bindings = Bindings()
        self.ledger = Ledger()
        self.activated = False
        self._versions: dict[str, DockerVersion] = {}  # ``_version``'s, by the text named
        self.docker_version = DockerVersion.or_default(header_docker_version(recording.header))

    def run(self) -> Iterator[ReplayVerdict]:
        return self.run_over(self.recording.exchanges)

    def run_over(self, exchanges: Iterable[Exchange]) -> Iterator[ReplayVerdict]:
        """A verdict per exchange, in number order (``recording_reader.in_seq_order``: a
        file holds them as their answers came), as each is replayed (``map``: no generator
        of its own between the reader's and the caller's loop)."""
        return map(self.step, in_seq_order(exchanges))

    def step(self, exchange: Exchange) -> ReplayVerdict:
        response = exchange.response
        if response is None or exchange.answered_by == AnsweredBy.SPY:
            return self._skipped(exchange)
        meaning = _meaning(exchange) if self.every_meaning else ""
        note = self._restart_if_dockerd_did(exchange) \
            if exchange.endpoint == Endpoint.ACTIVATE else ""
        request = rewrite_body(exchange.request, self.bindings)
        # the recorded answer through the bindings as they were before this exchange
        expected = self.bindings.translate(response.value)
        try:  # the frozen records of every exchange are set without their generated
            # __init__ (``recording.made``: all fields given), as the readers set theirs
            live = self.target.exchange(made(
                Outgoing, conn=exchange.conn, endpoint=exchange.endpoint,
                method=exchange.request.method or "POST", body=request.body,
                recorded=exchange.request))
        except ReplayNoAnswer as fault:
            return ReplayVerdict(
                seq=exchange.seq, conn=exchange.conn, endpoint=exchange.endpoint,
                recorded_status=response.status, sent=request.value,
                rewritten=request.changed, note=note, expected=expected, outcome=FAIL,
                meaning=meaning or _meaning(exchange),
                problems=(Problem(kind=ProblemKind.TRANSPORT, message=fault.message),))
        recorded, answer, problems = self._read(exchange, request.value, live)
        actual = self._learn(exchange, request.value, recorded, answer,
                             wrong_paths(exchange.endpoint, request.value, problems)
                             if problems else _NOTHING_WRONG)
        return made(
            ReplayVerdict, seq=exchange.seq, conn=exchange.conn, endpoint=exchange.endpoint,
            outcome=FAIL if problems else PASS,
            meaning=meaning or (_meaning(exchange) if problems else ""),
            problems=tuple(problems), skip_reason="", recorded_status=response.status,
            live_status=live.status, expected=expected, actual=actual, sent=request.value,
            rewritten=request.changed, elapsed_ms=live.elapsed_ms, note=note)

    def _skipped(self, exchange: Exchange) -> ReplayVerdict:
        """The verdict on an exchange the recorded plugin did not answer (``skip_reason``)."""
        return ReplayVerdict(seq=exchange.seq, conn=exchange.conn, endpoint=exchange.endpoint,
                             outcome=SKIP, meaning=_meaning(exchange),
                             skip_reason=skip_reason(exchange), sent=exchange.request.value)

    def _read(self, exchange: Exchange, request: JSON,
              live: Live) -> tuple[DecodedAnswer, DecodedAnswer, list[Problem]]:
        """What dockerd makes of the recorded and the live answer, and the problems.

        A live answer byte for byte the recorded one has none (the issue's rule: replay
        never fails an answer identical to the recording) and is read once, the recorded
        one's reading standing for both (``recorded_outcome``: a plain answer is not decoded
        again)."""
        response = exchange.response
        assert response is not None
        recorded_body = response.raw_body
        version = self._version(exchange)
        if live.status == response.status and live.body == recorded_body:
            answer = recorded_outcome(exchange, recorded_body, version)
            return answer, answer, []
        role = exchange.address_role  # the recorded session's: what a release gives back
        recorded = outcome(exchange.endpoint, response.status, recorded_body, version,
                           request=exchange.request.value, role=role)
        answer = outcome(exchange.endpoint, live.status, live.body, version, request=request,
                         role=role)
        problems = compare_read(endpoint=exchange.endpoint, request=request,
                                recorded_status=response.status, expected=recorded,
                                actual=answer, live=live, bindings=self.bindings,
                                ledger=self.ledger, rules=self.rules)
        return recorded, answer, problems

    def _version(self, exchange: Exchange) -> DockerVersion:
        """The daemon both answers are read as: the exchange's recording header's
        (``docker_version``), else this recording's header's, else the default."""
        named = exchange.docker_version
        if named is None:
            return self.docker_version
        version = self._versions.get(named)
        if version is None:  # parsed once per text: every exchange of a file names the same
            version = self._versions[named] = answer_version(exchange)
        return version

    def _restart_if_dockerd_did(self, exchange: Exchange) -> str:
        """A second successful activation means dockerd restarted (it activates a plugin once
        per lifetime, PROTOCOL.md 1.1): restart the target the same way."""
        if exchange.endpoint != Endpoint.ACTIVATE:
            return ""
        again = self.activated
        self.activated = self.activated or exchange.status == 200
        if not again:
            return ""
        self.ledger = Ledger()
        try:
            done = self.target.restart()
        except (ValueError, OSError, RuntimeError) as exc:
            raise ReplayUnusable(f"cannot restart {self.target.label}: {exc}") from exc
        return f"dockerd restarted here (second activation); {done}"

    def _learn(self, exchange: Exchange, request: JSON, recorded: DecodedAnswer,
               answer: DecodedAnswer, wrong: Collection[str]) -> JSON:
        """Bindings from every value that differs, except where a problem was found."""
        if answer.error is None and answer.is_json:
            if recorded.error is None and recorded.is_json:
                self.bindings.learn(recorded.value, answer.value, exclude=wrong)
                if exchange.endpoint == _DEFAULT_SPACES:
                    self._learn_spaces(recorded.value, answer.value)
            self.ledger.update(exchange.endpoint, request, answer.value)
        return answer.value

    def _learn_spaces(self, recorded: JSON, live: JSON) -> None:
        if not isinstance(recorded, dict) or not isinstance(live, dict):
            return
        for key in ("LocalDefaultAddressSpace", "GlobalDefaultAddressSpace"):
            mine, theirs = recorded.get(key), live.get(key)
            if isinstance(mine, str) and isinstance(theirs, str):
                self.bindings.bind_space(mine, theirs)


_DEFAULT_SPACES = Endpoint.GET_DEFAULT_ADDRESS_SPACES.value
_NOTHING_WRONG: frozenset[str] = frozenset()  # the paths to learn nothing from, most often


def _meaning(exchange: Exchange) -> str:
    response = exchange.response
    if response is None:
        return dockerd.describe(exchange.endpoint, exchange.request.value)
    return dockerd.describe(exchange.endpoint, exchange.request.value, response.value,
                             response.status)


def replay_recording(recording: Recording, spec: TargetSpec, rules: Rules,
                     source: str = "") -> ReplayResult:
    """Replay one loaded recording on a fresh target. Raises ReplayUnusable (target)."""
    target = spec.open(recording)
    try:
        replayer = Replayer(recording, target, rules)
        verdicts = tuple(replayer.run())
    finally:
        target.close()
    return ReplayResult(source=source or str(recording.path or "<recording>"),
                        target=target.label, rules=rules, verdicts=verdicts,
                        bindings=replayer.bindings.mapping(),
                        warnings=tuple(str(d) for d in recording.damage))


class ReplayListener(Protocol):
    """Hears of a streamed replay as it goes (``replay_path``): each recording's start (its
    source and the target's label), each verdict, each line the reader skipped (said before
    the verdict that follows it), and the end of its verdicts."""

    def started(self, source: str, target: str) -> None: ...

    def verdict(self, verdict: ReplayVerdict) -> None: ...

    def skipped(self, warning: str) -> None: ...

    def finished(self) -> None:
        """The recording's last verdict was told (or its replay stopped)."""


def target_digest(path: Path | str) -> Recording:
    """The few exchanges a target's set-up reads (``target.recorded_keeps_state``,
    ``recorded_interfaces``: the first successful ``IpamDriver.GetCapabilities`` and
    ``Plugin.Activate``, else the first call to each interface), in file order, as a
    recording that holds only those. Read record by record, and only until both answers
    are found (the second and first exchanges of most recordings). Raises ReplayUnusable
    with the reason (also for a file without exchanges)."""
    kept: list[Exchange] = []
    seen: set[str] = set()
    try:
        with RecordingReader(path) as reader:
            for exchange in reader.exchanges():
                response = exchange.response
                first_good = (exchange.endpoint in DIGESTED and exchange.endpoint not in seen
                              and response is not None and response.status == 200
                              and isinstance(response.value, dict))
                interface = exchange.endpoint.partition(".")[0]
                if first_good or interface not in seen:
                    kept.append(exchange)
                    seen.update({interface, exchange.endpoint} if first_good else {interface})
                if DIGESTED <= seen:
                    break
            header = reader.header
    except (OSError, RecordingError) as exc:
        raise ReplayUnusable(problem_text(path, exc)) from exc
    if not kept:
        raise ReplayUnusable(f"{path}: no exchanges to replay")
    return Recording(header=header, records=(), path=Path(path), exchanges=tuple(kept))


DIGESTED = frozenset({Endpoint.IPAM_GET_CAPABILITIES, Endpoint.ACTIVATE})


def replay_path(path: Path | str, spec: TargetSpec, rules: Rules, *,
                listener: ReplayListener | None = None,
                keep_all: bool = True) -> ReplayResult:
    """Replay one recording file read record by record, on a fresh target.

    The file is read for ``target_digest`` (its first few exchanges), then exchange by
    exchange as they are replayed (``listener`` hears of each verdict then). With
    ``keep_all=False`` the result keeps only the failed and skipped verdicts and counts the
    rest, so memory does not grow with the recording. Raises ReplayUnusable (the file, or
    the target)."""
    return _replayed(path, target_digest(path), spec, rules, listener, keep_all)


def _replayed(path: Path | str, digest: Recording, spec: TargetSpec, rules: Rules,
              listener: ReplayListener | None, keep_all: bool) -> ReplayResult:
    target = spec.open(digest)
    counts = dict.fromkeys(ReplayOutcome, 0)
    kept: list[ReplayVerdict] = []
    said = 0  # the reader's skipped lines told to the listener so far
    try:
        if listener is not None:
            listener.started(str(path), target.label)
        replayer = Replayer(digest, target, rules, every_meaning=keep_all)
        with RecordingReader(path) as reader:
            for verdict in replayer.run_over(reader.exchanges()):
                counts[verdict.outcome] += 1
                if keep_all or verdict.outcome != PASS:
                    kept.append(verdict)
                if listener is not None:
                    if len(reader.damage) > said:  # lines skipped since the last verdict
                        for damage in reader.damage[said:]:
                            listener.skipped(str(damage))
                        said = len(reader.damage)
                    listener.verdict(verdict)
            warnings = tuple(str(d) for d in reader.damage)
    except (OSError, RecordingError) as exc:  # the file changed since its digest was read
        raise ReplayUnusable(problem_text(path, exc)) from exc
    finally:
        target.close()
        if listener is not None:
            listener.finished()
    if listener is not None:
        for warning in warnings[said:]:
            listener.skipped(warning)
    return ReplayResult(source=str(path), target=target.label, rules=rules,
                        verdicts=tuple(kept), bindings=replayer.bindings.mapping(),
                        warnings=warnings, counts=None if keep_all else counts)


def replay_files(paths: Iterable[Path | str], spec: TargetSpec, rules: Rules, *,
                 listener: ReplayListener | None = None,
                 keep_all: bool = True) -> Iterator[ReplayResult]:
    """Replay recordings one after the other, each read record by record (``replay_path``).

    A recording that cannot be read gives a result with ``unusable`` set, and the others still
    run; a target that cannot be reached raises ReplayUnusable (nothing can run).
    """
    for path in paths:
        try:
            digest = target_digest(path)
        except ReplayUnusable as exc:
            yield ReplayResult(source=str(path), target=spec.label, rules=rules,
                               unusable=str(exc))
            continue
        yield _replayed(path, digest, spec, rules, listener, keep_all)
