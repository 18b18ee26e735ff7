"""``drive --compare`` reads its recording record by record (``compare.compare_path``, issue
#14): the same comparison as of the loaded recording, and a recording ten times longer (of a
scenario ten times longer) does not make it hold ten times more."""

from __future__ import annotations

from pathlib import Path

import pytest
from memory_peak import BOUND, peaks
from test_emulator_compare import PAIRS, SCENARIOS

from ipamx_spy.builtin import BuiltinConfig, make_plugin
from ipamx_spy.dockerd.versions import lookup
from ipamx_spy.emulator import scenario
from ipamx_spy.emulator.compare import compare, compare_path
from ipamx_spy.emulator.driver import EmulatorAppTarget, recording_header
from ipamx_spy.emulator.play import play_scenario
from ipamx_spy.recording import RecordingWriter, load

TALK = SCENARIOS / "talk.scenario"


@pytest.mark.parametrize(("recording", "scenario_file"), PAIRS,
                         ids=[f"{p.parent.name}/{p.stem}" for p, _ in PAIRS])
def test_the_streamed_comparison_is_the_loaded_ones(recording: Path,
                                                    scenario_file: Path) -> None:
    steps = scenario.load(scenario_file)
    loaded, streamed = compare(steps, load(recording)), compare_path(steps, recording)
    assert streamed.equal and streamed.mismatches == loaded.mismatches
    assert (streamed.recorded, streamed.emulated) == (loaded.recorded, loaded.emulated)
    assert [r.outcome for r in streamed.results] == [
        r.outcome for r in loaded.results if not r.as_expected]
    assert all(not r.exchanges for r in streamed.results)


def test_a_changed_byte_and_a_missing_request_are_told_as_the_loaded_comparison_does(
        tmp_path: Path) -> None:
    source = (SCENARIOS / "captures" / "talk.jsonl").read_text()
    changed = tmp_path / "changed.jsonl"
    assert '"Address":"10.4.4.21"' in source  # the request of c1's --ip
    changed.write_text(source.replace('"Address":"10.4.4.21"', '"Address":"10.4.4.22"', 1))
    steps = scenario.load(TALK)
    for path, played in ((changed, steps), (SCENARIOS / "captures" / "talk.jsonl", steps[:-1])):
        streamed, loaded = compare_path(played, path), compare(played, load(path))
        assert not streamed.equal and streamed.mismatches == loaded.mismatches
        assert streamed.recorded == loaded.recorded


def _recorded(cycles: int, out: Path) -> tuple[list[scenario.Step], Path]:
    """talk.scenario ``cycles`` times over, and the emulator's recording of it against the
    built-in plugin (its own random IDs, each network's new)."""
    steps = scenario.load(TALK) * cycles
    version = lookup("20.10")
    target = EmulatorAppTarget(app=make_plugin(BuiltinConfig(name="ipamx")))
    writer = RecordingWriter(out, recording_header(scenario=str(TALK), version=version,
                                                   target=target.address))
    try:
        tally = play_scenario(steps, target, version, writer=writer)
    finally:
        writer.close()
    assert tally.calls > 8 * cycles and not tally.unexpected
    return steps, out


def test_compare_holds_no_more_for_a_recording_ten_times_longer(tmp_path: Path) -> None:
    """With a reordering slack of 32 exchanges (1,024 by default), which the short recording
    fills too: the figure compared is then what grows with the recording (the scenario's
    steps are the caller's list, made before)."""
    small = _recorded(30, tmp_path / "small.jsonl")
    large = _recorded(300, tmp_path / "large.jsonl")
    runs = {small[1]: small[0], large[1]: large[0]}

    def run(path: Path) -> None:
        result = compare_path(runs[path], path, slack=32)
        assert result.equal, result.report()[:2000]

    small_peak, large_peak = peaks(run, small[1], large[1])
    assert large_peak < BOUND * small_peak, (small_peak, large_peak)
