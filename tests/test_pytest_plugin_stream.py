"""The pytest plugin reads a recording record by record: a recording ten times longer does not
make its test hold ten times more (issue #14's readers that stream)."""

from __future__ import annotations

from pathlib import Path

import pytest

# pytester's in-process runs drop modules first imported inside a run (see
# test_pytest_plugin_collect.py): import what a replay uses here.
import rich.console  # noqa: F401
import rich.text  # noqa: F401
from memory_peak import TALK, peaks, repeated

import ipamx_spy.replay.engine  # noqa: F401
import ipamx_spy.replay.report  # noqa: F401

pytest_plugins = ["pytester"]

GROWTH_ALLOWED = 2 << 20


def test_a_recordings_test_holds_no_more_for_a_ten_times_longer_file(
        pytester: pytest.Pytester) -> None:
    small = repeated(TALK, 300, pytester.path / "small.jsonl")
    large = repeated(TALK, 3000, pytester.path / "large.jsonl")

    def run(path: Path) -> None:
        result = pytester.runpytest_inprocess(str(path), "-p", "no:cacheprovider")
        result.assert_outcomes(passed=1)

    small_peak, large_peak = peaks(run, small, large)
    # replay reads through ``in_seq_order``, which holds only the exchanges that came out of
    # number order (``recording_reader.Numbering``): none in these files, so the two peaks are
    # the same (14.6 MB each, within a kilobyte, 2026-12-03). A test that held the file would
    # grow by about 20 MB from the short file to the long one.
    assert large_peak - small_peak < GROWTH_ALLOWED, (small_peak, large_peak)
