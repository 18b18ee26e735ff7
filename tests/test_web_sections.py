"""The live page cuts a session into docker commands exactly as ``show`` and the exports do.

``infer.GrowingSections`` is fed exchanges and markers as they arrive (answers may come out of
number order, markers may cut in); after every step its sections must be ``infer.sections`` of
the session so far, and what it says changed must be all that did. The web page's live board,
fed a long recording record by record, must show what the HTML export of that file shows.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipamx_spy import infer
from ipamx_spy import recording as rec
from ipamx_spy.recording import Exchange, Recording, encode_line
from ipamx_spy.web.board import FileBoard, LiveBoard
from ipamx_spy.web.query import compile_query, shown
from ipamx_spy.web.view import Waiting

RECORDINGS = Path(__file__).parent.parent / "recordings"
CORPUS = sorted(RECORDINGS.rglob("*.jsonl"))
POOL = [e for path in CORPUS for e in rec.load(path).exchanges]
GAPS = [0.001, 0.002, 0.01, 0.3]  # within a command, and a pause between commands


def _feed_and_compare(steps: list[Exchange | dict[str, Any]]) -> None:
    growing = infer.GrowingSections()
    exchanges: list[Exchange] = []
    markers: list[dict[str, Any]] = []
    last: list[infer.Section] = []
    for step in steps:
        if isinstance(step, dict):
            growing.add_marker(step)
            markers.append(step)
        else:
            growing.add(step)
            exchanges.append(step)
        whole = infer.sections(Recording(header={}, records=tuple(markers),
                                         exchanges=tuple(exchanges)))
        changed = growing.changed_from()
        now = growing.sections()
        assert now == whole
        assert now[:changed] == last[:changed]  # before changed_from: as it was
        last = now


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_growing_sections_are_what_the_whole_session_infers(data: st.DataObject) -> None:
    calls = data.draw(st.lists(st.tuples(st.sampled_from(POOL), st.sampled_from(GAPS)),
                               min_size=1, max_size=60))
    t = 0.0
    steps: list[Exchange | dict[str, Any]] = []
    for seq, (exchange, gap) in enumerate(calls, 1):
        t += gap
        steps.append(dataclasses.replace(exchange, seq=seq, t=t))
        if data.draw(st.integers(0, 12)) == 0:  # `ipamx-spy mark`, sometimes cutting in
            steps.append({"type": "marker", "text": f"mark {seq}", "t": t + 0.0001,
                          "after_seq": seq - data.draw(st.integers(0, 2))})
    for index in range(len(steps) - 1):  # answers that come out of number order
        if data.draw(st.integers(0, 7)) == 0:
            steps[index], steps[index + 1] = steps[index + 1], steps[index]
    _feed_and_compare(steps)


def test_every_corpus_recording_grows_into_its_own_sections() -> None:
    for path in CORPUS:
        loaded = rec.load(path)
        steps: list[Exchange | dict[str, Any]] = [
            r if r.get("type") == "marker" else Exchange.from_json(r)
            for r in loaded.records if r.get("type") in ("exchange", "marker")]
        _feed_and_compare(steps)


def test_a_docker_run_ip_right_after_a_network_create_is_cut_again_when_it_stops() -> None:
    """The look-ahead: an address asked for by value right after a network's setup reads as
    an --aux-address, until the recording releases it on its own (``docker stop``): then it
    was a ``docker run --ip``, and the sections before change (the talk's own case)."""
    talk = sorted(rec.load(RECORDINGS / "talk.jsonl").exchanges, key=lambda e: e.seq)
    at = 0.0
    quick = []  # the talk's calls with the create and the run --ip in one burst
    for exchange in talk:
        at += 0.3 if exchange.seq in (1, 7, 8, 10) else 0.002
        quick.append(dataclasses.replace(exchange, t=at))
    _feed_and_compare(list(quick))
    seen = {tuple(e.seq for e in s.exchanges): s.title for s in infer.infer(quick[:6])}
    final = {tuple(e.seq for e in s.exchanges): s.title for s in infer.infer(quick)}
    assert seen != final  # the release did change how the earlier calls are cut


def _long_recording(path: Path, count: int, marked: bool) -> list[dict[str, Any]]:
    """A recording of ``count`` calls of the corpus's scenarios back to back (``marked``:
    with some of their markers): long enough that the page's old frozen tail cut it
    differently from the export."""
    header = dict(rec.load(RECORDINGS / "talk.jsonl").header)
    sources = [rec.load(RECORDINGS / f"{n}.jsonl") for n in
               ("talk", "dynamic-pools", "errors", "iprange-gateway-aux", "dual-stack")]
    records: list[dict[str, Any]] = []
    seq, t = 0, 0.0
    while seq < count:
        for loaded in sources:
            for record in loaded.records:
                if record.get("type") == "marker" and (not marked or seq % 3):
                    continue  # some runs unmarked: inferred
                if record.get("type") not in ("exchange", "marker"):
                    continue
                t += 0.002
                if record.get("type") == "marker":
                    records.append({**record, "t": t, "after_seq": seq})
                    continue
                seq += 1
                records.append({**record, "seq": seq, "t": t})
    path.write_bytes(b"".join(encode_line(r) for r in [header, *records]))
    return [header, *records]


@pytest.mark.parametrize("marked", [False, True])
def test_live_page_and_html_export_agree_on_the_same_long_recording(
        tmp_path: Path, marked: bool) -> None:
    path = tmp_path / "long.jsonl"
    header, *records = _long_recording(path, 400, marked)
    live = LiveBoard(header, validate=False)
    for start in range(0, len(records), 7):  # a build every few records, as when busy
        for record in records[start:start + 7]:
            live.on_record(dict(record), None)
        live.build(len(live.records))
    built = live.build(len(live.records))
    exported = FileBoard([path], validate=False).build()  # build_trace: the exports' path
    assert list(built.board.hosts[0].trace.sections) == list(
        exported.board.hosts[0].trace.sections)
    assert built.items == exported.items


def test_a_waiting_request_is_judged_by_the_filter_by_its_request() -> None:
    loaded = rec.load(RECORDINGS / "talk.jsonl")
    live = LiveBoard(dict(loaded.header), validate=False)
    for record in loaded.records:
        live.on_record(dict(record), None)
    address = next(e for e in loaded.exchanges if e.endpoint == "IpamDriver.RequestAddress")
    waiting = (Waiting(seq=99, conn=3, endpoint="IpamDriver.RequestAddress", t=9.0,
                       waited_s=4, request=address.request),
               Waiting(seq=100, conn=4, endpoint="IpamDriver.ReleasePool", t=9.5,
                       waited_s=1))
    board = live.build(len(live.records), waiting).board
    assert shown(board, compile_query("RequestAddress"))[-1] == "x99"
    assert "x100" not in shown(board, compile_query("RequestAddress"))
    assert shown(board, compile_query("~b 10.4.4"))[-1:] == ["x99"]  # by its request body
    assert shown(board, compile_query("~err"))[-2:] == ["x99", "x100"]  # no answer yet
    assert shown(board, None)[-2:] == ["x99", "x100"]
