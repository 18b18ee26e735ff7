"""``in_seq_order`` over a reader: an exchange handed out as soon as no lower number can still
come, in exactly the order of the fixed window it replaces (kept here as the oracle)."""

from __future__ import annotations

import heapq
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from memory_peak import TALK, repeated, traced_peak

from ipamx_spy import recording as rec
from ipamx_spy.recording_reader import (
    FIRST_SEQ,
    Numbering,
    RecordingReader,
    SeqOrder,
    in_seq_order,
)

HEADER = json.loads(TALK.read_bytes().split(b"\n", 1)[0])
TEMPLATE = next(iter(rec.load(TALK).exchanges)).to_json()


def oracle(exchanges: Iterable[rec.Exchange], slack: int) -> Iterator[rec.Exchange]:
    """The window as it was before: always ``slack`` exchanges held, the lowest handed out."""
    heap: list[tuple[int, int, rec.Exchange]] = []
    for count, exchange in enumerate(exchanges):
        item = (exchange.seq, count, exchange)
        if len(heap) < slack:
            heapq.heappush(heap, item)
        else:
            yield heapq.heappushpop(heap, item)[2]
    while heap:
        yield heapq.heappop(heap)[2]


def _exchange(seq: int, index: int) -> dict[str, Any]:
    return {**TEMPLATE, "seq": seq, "t": float(index)}  # t tells repeated numbers apart


# What a number is used for: an exchange, a client record, an unanswered request (a close
# record lists it), a damaged line (a gap), and, in a file that breaks the rule, an exchange
# numbered again.
USES = st.sampled_from(["exchange"] * 6 + ["client", "unanswered", "damaged", "again"])


@st.composite
def recordings(draw: st.DrawFn) -> tuple[list[dict[str, Any] | str], int]:
    """Records of one file in the order written (each number placed a drawn distance late,
    sometimes more than the window), and the window's size."""
    slack = draw(st.integers(1, 8))
    count = draw(st.integers(0, 40))
    placed: list[tuple[float, int, dict[str, Any] | str]] = []
    for seq in range(FIRST_SEQ, FIRST_SEQ + count):
        use = draw(USES)
        late = draw(st.one_of(st.integers(0, 2), st.integers(0, 3 * slack)))
        at = seq + late + draw(st.floats(0, 0.9))
        if use == "client":
            placed.append((at, seq, {**_exchange(seq, seq), "type": "client"}))
        elif use == "unanswered":
            placed.append((at, seq, {"type": "close", "conn": 1, "t": 0.0,
                                     "unanswered": [seq]}))
        elif use == "damaged":
            placed.append((at, seq, '{"type":"exchange","seq":' + str(seq)))
        else:
            placed.append((at, seq, _exchange(seq, seq)))
            if use == "again":
                placed.append((at + draw(st.integers(-3, 3 * slack)), seq, _exchange(seq, -seq)))
    placed.sort(key=lambda p: p[0])
    return [p[2] for p in placed], slack


def _file(records: list[dict[str, Any] | str], header: dict[str, Any]) -> bytes:
    lines = [json.dumps(header)] + [r if isinstance(r, str) else json.dumps(r) for r in records]
    return ("\n".join(lines) + "\n").encode()


def _ids(exchanges: Iterable[rec.Exchange]) -> list[tuple[int, float]]:
    return [(e.seq, e.t) for e in exchanges]


def _both(data: bytes, slack: int) -> tuple[list[tuple[int, float]], list[tuple[int, float]]]:
    ordered = _ids(in_seq_order(RecordingReader(io.BytesIO(data)).exchanges(), slack))
    expected = _ids(oracle(list(RecordingReader(io.BytesIO(data)).exchanges()), slack))
    return ordered, expected


@settings(max_examples=400, deadline=None)
@given(recordings())
def test_the_order_is_the_fixed_windows_on_every_file_that_numbers_each_exchange_once(
        drawn: tuple[list[dict[str, Any] | str], int]) -> None:
    records, slack = drawn
    seqs = [r["seq"] for r in records if isinstance(r, dict) and r["type"] == "exchange"]
    ordered, expected = _both(_file(records, HEADER), slack)
    if len(seqs) == len(set(seqs)):
        assert ordered == expected
    else:  # numbered twice (an edited file): from the repeat on, the window as before
        assert sorted(ordered) == sorted(expected)


@settings(max_examples=200, deadline=None)
@given(recordings())
def test_a_merge_of_several_hosts_is_ordered_by_the_fixed_window(
        drawn: tuple[list[dict[str, Any] | str], int]) -> None:
    records, slack = drawn
    merged = {**HEADER, "merged": [{"host": "a"}, {"host": "b"}]}
    ordered, expected = _both(_file(records, merged), slack)
    assert ordered == expected


@settings(max_examples=400, deadline=None)
@given(st.integers(1, 6), st.integers(1, 6),
       st.lists(st.tuples(st.integers(FIRST_SEQ, 30), st.booleans()), max_size=60))
def test_giving_up_after_a_missing_number_keeps_the_order(
        slack: int, limit: int, taken: list[tuple[int, bool]]) -> None:
    """Numbers (``True``: an exchange's) fed as a reader feeds them, with a small ``limit`` of
    numbers waiting above a missing one: the order stays the fixed window's. (Every writer
    numbers from ``FIRST_SEQ``; an exchange numbered below it is a repeat's case.)"""
    exchanges = [rec.Exchange.from_json(_exchange(seq, index))
                 for index, (seq, is_exchange) in enumerate(taken) if is_exchange]
    once = [s for s, is_exchange in taken if is_exchange]
    if len(once) != len(set(once)):
        return  # covered above: a repeat changes the order from the repeat on
    numbering = Numbering(limit)
    order = SeqOrder(slack, numbering)
    out: list[rec.Exchange] = []
    pending = iter(exchanges)
    for seq, is_exchange in taken:
        numbering.take(seq, exchange=is_exchange)
        if is_exchange:
            out += order.push(next(pending))
    out += order.drain()
    assert _ids(out) == _ids(oracle(exchanges, slack))


def test_in_order_exchanges_are_never_held(tmp_path: Path) -> None:
    """A file in number order: the window holds nothing, so the ordered read peaks where the
    bare read does (the fixed window held 1,024 exchanges, about 3.5 MB)."""
    path = repeated(TALK, 3000, tmp_path / "long.jsonl")

    def bare() -> None:
        with RecordingReader(path) as reader:
            for _exchange in reader.exchanges():
                pass

    def ordered() -> None:
        with RecordingReader(path) as reader:
            for _exchange in in_seq_order(reader.exchanges()):
                pass

    bare()
    ordered()
    assert traced_peak(ordered) < traced_peak(bare) + 256 * 1024
