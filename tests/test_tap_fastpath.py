"""The fast framing path and h11 find the same messages, heads and errors on every input.

h11 stays the oracle: a tap with ``fast=False`` frames every message with h11 alone. Inputs are
real dockerd requests and plugin answers from ``recordings/``, mutated, plus arbitrary bytes,
fed in arbitrary pieces, with or without an end of file.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from relayfuzz import INTERESTING, KINDS, Edit, mutate, seeds

from ipamx_spy import tap

REQUESTS, ANSWERS = seeds()
Outcome = tuple[object, ...]

edits = st.lists(st.builds(
    Edit, kind=st.sampled_from(KINDS), position=st.floats(0, 1), size=st.integers(0, 64),
    data=st.one_of(st.binary(max_size=24), st.sampled_from(INTERESTING))), max_size=4)


def outcome(result: tap.Result) -> Outcome:
    if isinstance(result, tap.WireMessage):
        return ("message", result.raw, result.headers, result.body, result.http_version,
                result.method, result.target, result.status, result.reason, result.keep_alive)
    if isinstance(result, tap.TapError):
        return ("error", result.status, result.kind, result.message)
    return ("signal", result)


def run(side: str, data: bytes, cuts: list[int], eof: bool, *, fast: bool,
        max_body: int) -> list[Outcome]:
    """Feed ``data`` in pieces; every result the tap gives, in order."""
    t: tap.RequestTap | tap.ResponseTap
    t = tap.RequestTap(max_body, fast=fast) if side == "request" else \
        tap.ResponseTap(max_body, fast=fast)
    if isinstance(t, tap.ResponseTap):
        t.expect("POST")
    pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
    if eof:
        pieces.append(b"")
    seen: list[Outcome] = []
    for piece in pieces:
        t.feed(piece)
        while True:
            result = t.next_message()
            seen.append(outcome(result))
            if isinstance(result, tap.TapError) or result is tap.CLOSED:
                return seen
            if not isinstance(result, tap.WireMessage):
                break
            if isinstance(t, tap.RequestTap):
                if not t.answered(keep_alive=result.keep_alive):
                    return seen
            elif not t.reusable():
                return seen
            else:
                t.expect("POST")
    return seen


@st.composite
def inputs(draw: st.DrawFn) -> tuple[str, bytes, list[int], bool, int]:
    side = draw(st.sampled_from(["request", "response"]))
    seeds_ = REQUESTS if side == "request" else ANSWERS
    parts = draw(st.lists(st.sampled_from(seeds_), min_size=1, max_size=3))
    data = mutate(b"".join(parts), draw(edits))
    if draw(st.booleans()):
        data = draw(st.binary(max_size=64)) + data
    cuts = sorted(set(draw(st.lists(st.integers(0, max(0, len(data))), max_size=4))))
    return side, data, cuts, draw(st.booleans()), draw(st.sampled_from([1 << 20, 64]))


@settings(max_examples=400, deadline=None)
@given(inputs())
def test_fast_path_and_h11_agree_on_every_input(case: tuple[str, bytes, list[int], bool, int]
                                                ) -> None:
    side, data, cuts, eof, max_body = case
    assert run(side, data, cuts, eof, fast=True, max_body=max_body) == \
        run(side, data, cuts, eof, fast=False, max_body=max_body)


@settings(max_examples=200, deadline=None)
@given(side=st.sampled_from(["request", "response"]), data=st.binary(max_size=300),
       eof=st.booleans())
def test_fast_path_and_h11_agree_on_arbitrary_bytes(side: str, data: bytes, eof: bool) -> None:
    assert run(side, data, [], eof, fast=True, max_body=1 << 20) == \
        run(side, data, [], eof, fast=False, max_body=1 << 20)


def test_real_traffic_takes_the_fast_path() -> None:
    for raw in REQUESTS:
        t = tap.RequestTap()
        t.feed(raw)
        assert isinstance(t.next_message(), tap.WireMessage)
        assert t._h11 is None, raw[:80]
    for raw in ANSWERS:
        r = tap.ResponseTap()
        r.expect("POST")
        r.feed(raw)
        assert isinstance(r.next_message(), tap.WireMessage)
        assert r._h11 is None, raw[:80]


def test_keep_alive_asked_before_the_next_message_takes_the_fast_path() -> None:
    """The relay asks for the next request as soon as it answered, before its bytes arrive:
    an empty buffer is NEED_DATA, not a hand-over to h11 (which would frame every later
    message of the connection with h11)."""
    t = tap.RequestTap()
    for raw in REQUESTS[:3]:
        assert t.next_message() is tap.NEED_DATA
        t.feed(raw)
        message = t.next_message()
        assert isinstance(message, tap.WireMessage)
        assert t._h11 is None, raw[:80]
        assert t.answered(keep_alive=True)
    r = tap.ResponseTap()
    for raw in ANSWERS[:3]:
        r.expect("POST")
        assert r.next_message() is tap.NEED_DATA
        r.feed(raw)
        assert isinstance(r.next_message(), tap.WireMessage)
        assert r._h11 is None, raw[:80]


def test_a_content_length_of_more_digits_than_h11_reads_is_h11s_to_refuse() -> None:
    """h11 refuses a Content-Length over 20 digits as malformed (400), before any limit; the
    fast path hands such a head to h11 instead of reading a huge length (413)."""
    body = b'{"PoolID":"p","Address":"","Options":null}\n'
    for digits in (b"6" * 20, b"6" * 21, b"0" * 21 + str(len(body)).encode()):
        data = (b"POST /IpamDriver.RequestAddress HTTP/1.1\r\nHost: \r\nContent-Length: " + digits
                + b"\r\n\r\n" + body)
        fast = run("request", data, [], False, fast=True, max_body=1 << 20)
        assert fast == run("request", data, [], False, fast=False, max_body=1 << 20)
        if len(digits) > 20:
            assert fast[0][:3] == ("error", 400, tap.FaultKind.MALFORMED)
