"""``replay --merge`` reads its files record by record (issue #14): the same verdicts as the
merged replay of loaded recordings, and files ten times longer do not make it hold ten times
more."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from memory_peak import BOUND, TALK, peaks, repeated

from ipamx_spy.ipam import shared_service
from ipamx_spy.ipam.shared import SharedAllocator
from ipamx_spy.multihost.replay import replay_merged, replay_merged_paths
from ipamx_spy.recording import load
from ipamx_spy.replay.compare import Rules
from ipamx_spy.replay.engine import FAIL, PASS

SWARM = Path(__file__).resolve().parent.parent / "docs" / "swarm"


class Heard:
    """A listener that keeps what it is told, in order."""

    def __init__(self) -> None:
        self.told: list[tuple[str, object]] = []

    def started(self, source: str, target: str) -> None:
        self.told.append(("started", source))

    def verdict(self, verdict: object) -> None:
        self.told.append(("verdict", verdict))

    def skipped(self, warning: str) -> None:
        self.told.append(("skipped", warning))

    def finished(self) -> None:
        self.told.append(("finished", None))


def test_the_streamed_merged_replay_gives_the_loaded_ones_verdicts() -> None:
    paths = [SWARM / f"node{i}.jsonl" for i in (1, 2, 3)]
    loaded = replay_merged([load(p) for p in paths], Rules())
    heard = Heard()
    streamed = replay_merged_paths(paths, Rules(), listener=heard)
    assert streamed.result.verdicts == loaded.result.verdicts
    assert streamed.result.count(PASS) == 47 and streamed.hosts == loaded.hosts
    assert streamed.lanes == loaded.lanes
    assert streamed.result.source == loaded.result.source
    assert streamed.result.target == loaded.result.target
    told = [v for kind, v in heard.told if kind == "verdict"]
    assert told == list(loaded.result.verdicts)
    assert heard.told[0] == ("started", loaded.result.source) and heard.told[-1][0] == "finished"


def test_a_streamed_merged_replay_keeps_only_what_failed_and_tells_skipped_lines(
        tmp_path: Path) -> None:
    first = repeated(TALK, 40, tmp_path / "a.jsonl")
    second = tmp_path / "b.jsonl"
    lines = repeated(TALK, 40, tmp_path / "b0.jsonl").read_text().splitlines(keepends=True)
    lines[5] = '{"type": "exchange", "seq": \n'  # a torn line in the middle
    second.write_text("".join(lines))
    heard = Heard()
    result = replay_merged_paths([first, second], Rules(), listener=heard, keep_all=False)
    counted = result.result.count(PASS) + result.result.count(FAIL)
    assert counted == 79 and len(result.result.verdicts) == len(result.result.failures)
    assert set(result.lanes) == {v.seq for v in result.result.verdicts}
    [warning] = result.result.warnings
    assert "b.jsonl:6" in warning and ("skipped", warning) in heard.told


def test_replay_merge_holds_no_more_for_files_ten_times_longer(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What a merged replay holds at most (``slack`` exchanges per file; each shared log up to
    its compaction, every 1,000 entries) is made small here, so that the short files reach it
    too: the figure compared is then what grows with the files."""
    monkeypatch.setattr(shared_service, "SharedAllocator",
                        functools.partial(SharedAllocator, compact_every=50))

    def files(count: int) -> list[Path]:
        return [repeated(TALK, count, tmp_path / f"{host}-{count}.jsonl") for host in "ab"]

    small, large = files(250), files(2500)

    def run(which: Path) -> None:
        result = replay_merged_paths(small if which == tmp_path else large, Rules(),
                                     keep_all=False, slack=32).result
        assert not result.failures

    small_peak, large_peak = peaks(run, tmp_path, tmp_path / "large")
    assert large_peak < BOUND * small_peak, (small_peak, large_peak)
