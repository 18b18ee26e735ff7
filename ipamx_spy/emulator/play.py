"""``drive``'s run: a scenario's docker commands played by an emulated dockerd against one
target, or by one emulated dockerd per node of a swarm against each node's target, each
exchange optionally checked by a validator (one per node) and written to a recording (one per
node).

What is printed is the caller's: ``Observer`` hears of each command before it runs, of each
exchange with its findings, and of each command's result. Nothing here prints or exits.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ..dockerd.versions import VersionRow
from ..findings import Finding, Severity
from ..live import Checker
from ..recording import Exchange, RecordingWriter
from ..switches import RuleSwitches, Switched
from .daemon import Daemon
from .driver import (
    EmulatorSession,
    EmulatorTarget,
    StepResult,
    SwarmSession,
    host_reserved,
    url_host,
)
from .ids import RandomIds
from .scenario import Step
from .swarm import Swarm


def _nothing(*_: object) -> None:
    return None


@dataclass(frozen=True, kw_only=True)
class Observer:
    """What the caller shows of a run (``drive`` prints; a test may collect): told of each
    command before it runs, of each exchange with the validator's findings and the node it was
    made on (``""`` for a scenario of one daemon), and of each command's result."""

    command: Callable[[Step], None] = _nothing
    exchange: Callable[[Exchange, Sequence[Finding], str], None] = _nothing
    result: Callable[[StepResult], None] = _nothing


@dataclass(frozen=True, kw_only=True)
class PlayOptions:
    """How the emulated dockerd behaves (``drive``'s options)."""

    exec_root: str = "/var/run/docker"  # dockerd's --exec-root: SandboxKey paths
    host_routes: bool = True  # re-request dynamic pools overlapping this host's routes
    seed: int | None = None  # ids, MACs and names; the same seed plays the same run


@dataclass(kw_only=True)
class PlayTally:
    """What a run came to: every command's result and the validator's errors."""

    results: list[StepResult] = field(default_factory=list)
    errors: int = 0  # findings of severity error (0 without a validator)
    checked: bool = False  # a validator looked at every exchange

    @property
    def unexpected(self) -> int:
        """Commands that did not end as the scenario says (failed where it expects success, or
        the other way round)."""
        return sum(1 for r in self.results if not r.as_expected)

    @property
    def calls(self) -> int:
        return sum(len(r.exchanges) for r in self.results)


CheckerFactory = Callable[[], Checker | None]


def scenario_checker(version: VersionRow, enabled: bool,
                     switches: RuleSwitches = RuleSwitches()) -> Checker | None:
    """The validator for ``drive --check`` against this dockerd version; switched-off rules
    say nothing."""
    if not enabled:
        return None
    from ..validate import Validator

    validator = Validator(docker_version=version.name)
    return Switched(validator, switches) if switches else validator


class _Checking:
    """One validator per node (each follows its own plugin), the errors counted on the
    tally, every exchange passed on to the observer with its findings."""

    def __init__(self, make: CheckerFactory, observer: Observer, tally: PlayTally) -> None:
        self.make, self.observer, self.tally = make, observer, tally
        self.checkers: dict[str, Checker | None] = {}

    def on(self, node: str) -> Callable[[Exchange], None]:
        if node not in self.checkers:
            self.checkers[node] = self.make()
        checker = self.checkers[node]
        self.tally.checked = checker is not None

        def checked(exchange: Exchange) -> None:
            found = checker.check(exchange) if checker is not None else []
            self.tally.errors += sum(1 for f in found if f.severity == Severity.ERROR)
            self.observer.exchange(exchange, found, node)
        return checked


def play_scenario(steps: Sequence[Step], target: EmulatorTarget, version: VersionRow, *,
                  observer: Observer = Observer(), options: PlayOptions = PlayOptions(),
                  checker: CheckerFactory = lambda: None,
                  writer: RecordingWriter | None = None) -> PlayTally:
    """Play ``steps`` in order against ``target`` as dockerd ``version`` does, each exchange
    checked by the validator ``checker`` makes. Raises OSError when the recording cannot be
    written (the session is closed then too); the caller closes ``writer``."""
    rng = random.Random(options.seed)
    daemon = Daemon(version, ids=RandomIds(exec_root=options.exec_root, rng=rng), rng=rng,
                    url_host=url_host(version, target.address),
                    reserved=host_reserved() if options.host_routes else ())
    tally = PlayTally()
    on_exchange = _Checking(checker, observer, tally).on("")
    session = EmulatorSession(daemon, target, writer=writer, on_exchange=on_exchange)
    return _play(steps, session.play, session.close, observer, tally)


def play_swarm(steps: Sequence[Step], targets: Mapping[str, EmulatorTarget], version: VersionRow, *,
               observer: Observer = Observer(), seed: int | None = None,
               checker: CheckerFactory = lambda: None,
               writers: Mapping[str, RecordingWriter] | None = None) -> PlayTally:
    """Play a swarm scenario: one emulated dockerd per node of ``targets`` (named as the
    scenario's ``docker --context NODE``), each with its own plugin, validator and recording.
    Raises OSError when a recording cannot be written; the caller closes ``writers``."""
    session = SwarmSession(Swarm(version, list(targets), rng=random.Random(seed)), targets,
                           writers=writers or {})
    tally = PlayTally()
    checking = _Checking(checker, observer, tally)
    for name, node in session.sessions.items():
        node.on_exchange = checking.on(name)
    return _play(steps, session.play, session.close, observer, tally)


def _play(steps: Sequence[Step], play: Callable[[Step], StepResult], close: Callable[[], None],
          observer: Observer, tally: PlayTally) -> PlayTally:
    try:
        for step in steps:
            observer.command(step)
            result = play(step)
            observer.result(result)
            tally.results.append(result)
    finally:
        close()
    return tally
