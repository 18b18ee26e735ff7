"""A recording replayed against a mock of itself conforms (issue #12): an answer identical to
the recorded one never fails, whatever dockerd made of it. Every stored recording and capture
(with the ones `tests/broken/make_corpus.py` made against plugins that deviate), and every
verdict case (each deviation observed on the real dockerd) as a recording of its own;
``tests/test_dockerd_real.py`` does the same with recordings the real daemons made."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from brokenplugin import request_message
from verdict_cases import CASES, Case

from ipamx_spy.mock import MockPlugin
from ipamx_spy.recording import Exchange, Message, Recording, encode_body, load
from ipamx_spy.replay.compare import Rules
from ipamx_spy.replay.engine import replay_recording
from ipamx_spy.replay.target import TargetSpec

ROOT = Path(__file__).resolve().parent.parent
STORED = sorted([*ROOT.glob("recordings/**/*.jsonl"), *ROOT.glob("tests/captures/**/*.jsonl"),
                 *ROOT.glob("tests/golden/*.jsonl"),
                 *ROOT.glob("tests/broken/*.jsonl")])  # made against plugins that deviate


def _replayed_against_itself(recording: Recording) -> list[tuple[int, str, list[str]]]:
    """The failures of ``recording`` replayed against a mock serving its own answers."""
    spec = TargetSpec(label="mock", app_factory=lambda: MockPlugin(exchanges=recording.exchanges))
    result = replay_recording(recording, spec, Rules())
    assert len(result.verdicts) == len(recording.exchanges)
    return [(v.seq, v.endpoint, [p.message for p in v.problems]) for v in result.failures]


def test_the_corpus_is_there() -> None:
    assert len(STORED) >= 20
    assert ROOT / "recordings" / "errors.jsonl" in STORED
    assert ROOT / "tests" / "broken" / "empty-200.jsonl" in STORED


@pytest.mark.parametrize("path", STORED, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_stored_recording_conforms_to_a_mock_of_itself(path: Path) -> None:
    recording = load(path)
    assert recording.exchanges
    assert _replayed_against_itself(recording) == []


def _case_recording(case: Case) -> Recording:
    request = request_message(case.endpoint.value, case.request)
    response = Message(status=case.status, reason="OK" if case.status == 200 else "Error",
                       headers=(("Content-Length", str(len(case.body))),),
                       body=encode_body(case.body))
    exchange = Exchange(seq=1, conn=1, t=0.01, endpoint=case.endpoint.value, request=request,
                        response=response, duration_ms=0.2, upstream_ms=0.1)
    header = {"type": "header", "version": 1, "docker_version": case.version}
    return Recording(header=header, records=(header, exchange.to_json()),
                     exchanges=(exchange,))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_a_deviation_dockerd_was_seen_to_judge_replays_against_a_mock_of_itself(
        case: Case) -> None:
    recording = _case_recording(case)
    assert recording.exchanges[0].response is not None
    assert recording.exchanges[0].response.raw_body == case.body
    assert json.loads(recording.exchanges[0].request.raw_body or b"null") == case.request
    assert _replayed_against_itself(recording) == []
