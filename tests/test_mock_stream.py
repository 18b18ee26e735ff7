"""Mock reads its recording as the requests come (``mock.RecordedWindow``, issue #14): a
recording ten times longer does not make it hold ten times more, and in a recording longer
than the window a request finds its answer within the window of where the session has got to."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from memory_peak import BOUND, TALK, peaks, repeated

from ipamx_spy.mock import MockPlugin, RecordedWindow, survey
from ipamx_spy.recording import load
from ipamx_spy.recording_reader import RecordingReader


def _serve_in_order(path: Path, window: int) -> MockPlugin:
    """A mock of ``path`` asked every recorded request in the recorded order."""
    with RecordingReader(path) as served, RecordingReader(path) as asked:
        mock = MockPlugin(exchanges=served.exchanges(), window=window)
        for exchange in asked.exchanges():
            reply = mock.handle(exchange.endpoint, exchange.request.raw_body)
            assert exchange.response is not None and reply.body == exchange.response.raw_body
        assert not mock.misses
        return mock


def test_mock_holds_no_more_for_a_recording_ten_times_longer(tmp_path: Path) -> None:
    small = repeated(TALK, 500, tmp_path / "small.jsonl")
    large = repeated(TALK, 5000, tmp_path / "large.jsonl")
    small_peak, large_peak = peaks(lambda path: _serve_in_order(path, 64), small, large)
    assert large_peak < BOUND * small_peak, (small_peak, large_peak)


def test_every_request_of_a_long_recording_is_answered_and_counted(tmp_path: Path) -> None:
    path = repeated(TALK, 600, tmp_path / "long.jsonl")
    mock = _serve_in_order(path, 16)
    assert mock.answered == 600 and len(mock.served) == 16  # the last window's
    assert mock.served[-1].recorded_seq == 600
    assert mock.unused_tally() == ([], 0)
    found = survey(path)
    assert found.exchanges == 600 and not found.joins and not found.damage


def test_a_recording_within_the_window_is_matched_as_a_whole_one(tmp_path: Path) -> None:
    """The last exchange of the file answers the first request when the file fits the window."""
    exchanges = load(TALK).exchanges
    last = exchanges[-1]
    whole = MockPlugin(exchanges=exchanges)
    assert whole.handle(last.endpoint, last.request.raw_body).status == 200
    assert whole.recorded.whole
    narrow = MockPlugin(exchanges=exchanges, window=2)
    reply = narrow.handle(last.endpoint, last.request.raw_body)
    assert reply.status == 500
    assert "within 2 exchanges of the last one answered" in json.loads(reply.body)["Err"]


def test_exchanges_left_behind_are_given_up_and_told_as_unused(tmp_path: Path) -> None:
    path = repeated(TALK, 200, tmp_path / "long.jsonl")
    exchanges = [e if not 3 <= i < 6 else dataclasses.replace(e, endpoint="Plugin.Unasked")
                 for i, e in enumerate(load(path).exchanges)]
    skipped = {e.seq for e in exchanges[3:6]}  # never asked for
    mock = MockPlugin(exchanges=iter(exchanges), window=8)
    for exchange in exchanges[:150]:
        if exchange.seq not in skipped:
            mock.handle(exchange.endpoint, exchange.request.raw_body)
    assert mock.recorded.given_up == 3 and not mock.misses
    first, count = mock.unused_tally(4)
    assert [e.seq for e in first] == [*sorted(skipped), 151] and count == 3 + 50


def test_a_window_holds_at_most_twice_its_size() -> None:
    exchanges = load(TALK).exchanges
    window = RecordedWindow(iter(exchanges * 1), window=3)
    assert window.read == 3  # up to ``window`` places after the furthest used (none yet)
    for exchange in exchanges[:6]:
        window.use(exchange)
    assert window.read == 6 + 3 and len(window.unused()) == 3 and not window.whole
    assert window.dropped == 2  # places 0 and 1 are more than 3 behind the furthest (5)
