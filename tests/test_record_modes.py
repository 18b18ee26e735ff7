"""Record modes of the pytest plugin (``ipamx_spy.recordmodes``), VCR.py style."""

from __future__ import annotations

from pathlib import Path

import pytest

import ipamx_spy.replay.engine  # noqa: F401  (pytester drops modules first imported in a run)
import ipamx_spy.replay.report  # noqa: F401
from ipamx_spy import recording
from ipamx_spy.recordmodes import (
    Action,
    RecordMode,
    RecordModeError,
    append_new,
    new_records,
    parse_mode,
    plan,
    record_scenario,
)

pytest_plugins = ["pytester"]
SCENARIOS = Path(__file__).parent.parent / "scenarios"
SMALL = "docker network create --ipam-driver ipamx --subnet 10.7.0.0/24 n1\n"


def test_the_decision_table() -> None:
    assert plan(RecordMode.NONE, has_recording=True, has_scenario=True) is Action.REPLAY
    assert plan(RecordMode.NONE, has_recording=False, has_scenario=True) is Action.MISSING
    assert plan(RecordMode.ONCE, has_recording=False, has_scenario=True) is Action.RECORD
    assert plan(RecordMode.ONCE, has_recording=True, has_scenario=True) is Action.REPLAY
    assert plan(RecordMode.NEW, has_recording=True, has_scenario=True) is Action.APPEND
    assert plan(RecordMode.ALL, has_recording=True, has_scenario=True) is Action.RECORD
    assert plan(RecordMode.ALL, has_recording=True, has_scenario=False) is Action.REPLAY
    assert parse_mode(" Once ") is RecordMode.ONCE
    with pytest.raises(RecordModeError, match="none, once, new, all"):
        parse_mode("sometimes")


def test_record_scenario_writes_a_recording_replay_accepts(tmp_path: Path) -> None:
    (tmp_path / "s.scenario").write_text(SMALL)
    done = record_scenario(tmp_path / "s.scenario", tmp_path / "s.jsonl")
    loaded = recording.load(done.path)
    assert done.exchanges == len(loaded.exchanges) > 0
    assert "IpamDriver.RequestPool" in [e.endpoint for e in loaded.exchanges]
    assert [p.name for p in tmp_path.iterdir()] == sorted(["s.scenario", "s.jsonl"]) or \
        sorted(p.name for p in tmp_path.iterdir()) == ["s.jsonl", "s.scenario"]


def test_new_records_are_the_missing_ones_numbered_after_the_last(tmp_path: Path) -> None:
    (tmp_path / "a.scenario").write_text(SMALL)
    (tmp_path / "b.scenario").write_text(
        SMALL + "docker run -d --name c1 --net n1 --ip 10.7.0.9 bb sleep 1\n")
    old = recording.load(record_scenario(tmp_path / "a.scenario", tmp_path / "a.jsonl").path)
    fresh = recording.load(record_scenario(tmp_path / "b.scenario", tmp_path / "b.jsonl").path)
    added = new_records(old, fresh)
    assert added and [r["seq"] for r in added] == list(
        range(len(old.exchanges) + 1, len(old.exchanges) + 1 + len(added)))
    assert any('"10.7.0.9"' in str(r["request"]) or "10.7.0.9" in str(r["request"])
               for r in added)


def test_append_new_reads_both_files_record_by_record_and_appends_what_new_records_finds(
        tmp_path: Path) -> None:
    (tmp_path / "a.scenario").write_text(SMALL)
    (tmp_path / "b.scenario").write_text(
        SMALL + "docker run -d --name c1 --net n1 --ip 10.7.0.9 bb sleep 1\n")
    old = record_scenario(tmp_path / "a.scenario", tmp_path / "a.jsonl").path
    before = recording.load(old)
    expected = new_records(before, recording.load(
        record_scenario(tmp_path / "b.scenario", tmp_path / "b.jsonl").path))
    done = append_new(tmp_path / "b.scenario", old)
    after = recording.load(old)
    assert done.added == len(expected) > 0
    assert done.exchanges == len(after.exchanges) == len(before.exchanges) + len(expected)
    assert [(e.seq, e.endpoint, e.request.value) for e in after.exchanges[len(before.exchanges):]] \
        == [(r["seq"], r["endpoint"], r["request"]["body"].get("json")) for r in expected]
    assert append_new(tmp_path / "b.scenario", old).added == 0  # nothing new the second time


def test_mode_none_fails_naming_the_recording_and_once_records_it(
        pytester: pytest.Pytester) -> None:
    pytester.makefile(".scenario", net=SMALL)
    result = pytester.runpytest("net.scenario")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*net.scenario has no recording net.jsonl*--ipamx-record-mode "
                                 "once*"])
    result = pytester.runpytest("net.scenario", "--ipamx-record-mode", "once")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*ipamx-spy recordings written (commit them)*",
                                 "*net.jsonl (* exchanges, recorded from net.scenario)*"])
    written = (pytester.path / "net.jsonl").read_bytes()
    result = pytester.runpytest(".", "--ipamx-record-mode", "once")
    result.assert_outcomes(passed=1)  # the recording is collected, the scenario beside it not
    assert (pytester.path / "net.jsonl").read_bytes() == written
    assert "commit them" not in result.stdout.str()


def test_mode_all_rerecords_and_new_appends(pytester: pytest.Pytester) -> None:
    pytester.makefile(".scenario", net=SMALL)
    pytester.runpytest("net.scenario", "--ipamx-record-mode", "once").assert_outcomes(passed=1)
    first = recording.load(pytester.path / "net.jsonl")
    (pytester.path / "net.scenario").write_text(
        SMALL + "docker run -d --name c1 --net n1 --ip 10.7.0.9 bb sleep 1\n")
    result = pytester.runpytest("net.jsonl", "--ipamx-record-mode", "new")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*net.jsonl (* new exchanges appended)*"])
    grown = recording.load(pytester.path / "net.jsonl")
    assert len(grown.exchanges) > len(first.exchanges)
    assert grown.header == first.header
    result = pytester.runpytest("net.jsonl", "--ipamx-record-mode", "all")
    result.assert_outcomes(passed=1)
    assert recording.load(pytester.path / "net.jsonl").header["started"] != first.header[
        "started"]


def test_record_mode_and_filter_from_the_project_table(pytester: pytest.Pytester) -> None:
    pytester.makefile(".scenario", net=SMALL)
    pytester.makepyprojecttoml('[tool.ipamx-spy]\nrecord-mode = "once"\n')
    pytester.runpytest("net.scenario").assert_outcomes(passed=1)
    pytester.makepyprojecttoml('[tool.ipamx-spy]\nrecord-mode = "sometimes"\n')
    result = pytester.runpytest("net.jsonl")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "sometimes" in result.stderr.str()
