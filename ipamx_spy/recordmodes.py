"""Record modes of the pytest plugin, as VCR.py users know them, and recording a scenario.

A scenario (``NAME.scenario``: docker commands, ``ipamx_spy.emulator.scenario``) and its
recording (``NAME.jsonl`` beside it) are one test. The record mode says what a run does:

``none`` (the default, and what CI uses)
    replay the recording; a scenario without one fails, naming the mode that records it.
``once``
    record the scenario if its recording is missing (playing it, as dockerd would, against the
    plugin under test), then replay; an existing recording is only replayed.
``new``
    play the scenario again and append the exchanges the recording does not have yet (the
    same endpoint with the same request, in JSON), numbered after the last one; then replay.
``all``
    record every scenario again, replacing its recording, then replay.

``plan`` is the decision table; ``record_scenario`` and ``append_new`` do the work. Every
recording written is reported so that the user commits it.
"""

from __future__ import annotations

import enum
import json
import os
import random
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import address, recording
from .dockerd.versions import VersionRow, lookup
from .emulator import scenario as scenarios
from .emulator.daemon import Daemon
from .emulator.driver import (
    EmulatorAppTarget,
    EmulatorSession,
    EmulatorSocketTarget,
    EmulatorTarget,
    host_reserved,
    recording_header,
    url_host,
)
from .emulator.ids import RandomIds


class RecordMode(enum.StrEnum):
    NONE = "none"
    ONCE = "once"
    NEW = "new"
    ALL = "all"


class RecordModeError(ValueError):
    """A record mode or a scenario that cannot be used; the message says what to do."""


class Action(enum.StrEnum):
    REPLAY = "replay"
    RECORD = "record"
    APPEND = "append"
    MISSING = "missing"


def parse_mode(text: str) -> RecordMode:
    try:
        return RecordMode(text.strip().lower())
    except ValueError:
        raise RecordModeError(f"record mode {text!r}: choose one of "
                              f"{', '.join(m.value for m in RecordMode)}") from None


def plan(mode: RecordMode, *, has_recording: bool, has_scenario: bool) -> Action:
    """What a test does before it replays (the table of the module docstring)."""
    if not has_scenario:
        return Action.REPLAY if has_recording else Action.MISSING
    if mode is RecordMode.ALL or (not has_recording and mode is not RecordMode.NONE):
        return Action.RECORD
    if not has_recording:
        return Action.MISSING
    return Action.APPEND if mode is RecordMode.NEW else Action.REPLAY


def scenario_target(text: str, version: VersionRow) -> EmulatorTarget:
    """The plugin a scenario is played against: an address, or ``builtin``.

    Raises ValueError (address.AddressError) or OSError when it cannot be used.
    """
    where = address.parse(text)
    if where.kind is not address.AddressKind.BUILTIN:
        return EmulatorSocketTarget(where)
    from .builtin import BuiltinConfig, NetworkLinks, make_plugin
    from .ipam.config import compat_mode

    # The allocator mode that imitates that daemon's own IPAM (compat_mode: 26 -> "26").
    config = BuiltinConfig(compat=compat_mode(str(version.major)), network_driver=True,
                           network_links=NetworkLinks.MEMORY)
    return EmulatorAppTarget(make_plugin(config))


@dataclass(frozen=True, kw_only=True)
class Recorded:
    path: Path
    exchanges: int
    added: int = 0


def record_scenario(scenario_path: Path, out: Path, *, target: str = "builtin",
                    docker_version: str = "20.10", seed: int | None = 0) -> Recorded:
    """Play a scenario as dockerd would and write its recording to ``out`` (replaced whole,
    atomically). Raises RecordModeError for an unusable scenario, target or version."""
    try:
        version = lookup(docker_version)
        steps = scenarios.load(scenario_path)
        plugin = scenario_target(target, version)
    except (ValueError, OSError) as exc:
        raise RecordModeError(f"cannot record {scenario_path}: {exc}") from None
    rng = random.Random(seed)
    daemon = Daemon(version, ids=RandomIds(rng=rng), rng=rng,
                    url_host=url_host(version, plugin.address), reserved=host_reserved())
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(handle)
    os.unlink(temporary)
    writer = recording.RecordingWriter(Path(temporary), recording_header(
        scenario=str(scenario_path), version=version, target=plugin.address))
    session = EmulatorSession(daemon, plugin, writer=writer)
    try:
        for step in steps:
            session.play(step)
    finally:
        session.close()
        writer.close()
    os.replace(temporary, out)
    return Recorded(path=out, exchanges=len(session.exchanges))


def _key(exchange: recording.Exchange) -> str:
    return exchange.endpoint + " " + json.dumps(exchange.request.value, sort_keys=True)


def new_records(old: recording.Recording, fresh: recording.Recording) -> list[dict[str, Any]]:
    """The exchange records of ``fresh`` that ``old`` lacks, numbered after ``old``'s last."""
    known = {_key(e) for e in old.exchanges}
    return _missing(known, max((e.seq for e in old.exchanges), default=0), fresh.exchanges)


def _missing(known: set[str], seq: int,
             fresh: Iterable[recording.Exchange]) -> list[dict[str, Any]]:
    """The records of the exchanges of ``fresh`` whose key is not ``known``, numbered after
    ``seq`` (``known`` takes each one's key)."""
    added = []
    for exchange in fresh:
        if _key(exchange) in known:
            continue
        known.add(_key(exchange))
        seq += 1
        record = exchange.to_json()
        record["seq"] = seq
        added.append(record)
    return added


def append_new(scenario_path: Path, path: Path, **options: Any) -> Recorded:
    """Play the scenario again and append to ``path`` the exchanges it lacks (``new_records``,
    both files read record by record: what is held is a key per distinct request)."""
    known: set[str] = set()
    seq = count = 0
    with recording.RecordingReader(path) as old:
        for exchange in old.exchanges():
            known.add(_key(exchange))
            seq, count = max(seq, exchange.seq), count + 1
    with tempfile.TemporaryDirectory() as directory:
        fresh = record_scenario(scenario_path, Path(directory) / path.name, **options)
        with recording.RecordingReader(fresh.path) as played:
            added = _missing(known, seq, played.exchanges())
    if added:
        recording.append_records(path, added)
    return Recorded(path=path, exchanges=count + len(added), added=len(added))
