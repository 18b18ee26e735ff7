"""The docker-side connection without sockets: bytes in, events out, clock values passed in."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ipamx_spy.client import docker_request
from ipamx_spy.connection import NEED_DATA, Closed, DockerConnection, Refuse, Request

RAW = docker_request("IpamDriver.RequestPool", b'{"Pool":""}\n')


def test_a_request_in_pieces_then_the_next_one_after_the_answer() -> None:
    conn = DockerConnection()
    conn.receive(RAW[:10], 0.0)
    assert conn.next_event(0.0) is NEED_DATA
    conn.receive(RAW[10:] + RAW, 0.1)
    first = conn.next_event(0.1)
    assert isinstance(first, Request) and first.refusal is None
    assert first.message.raw == RAW
    assert conn.busy and conn.next_event(0.2) is NEED_DATA  # one request at a time
    assert conn.answered(first.message, True, 0.3)
    second = conn.next_event(0.3)
    assert isinstance(second, Request) and second.message.raw == RAW


def test_non_post_is_handed_out_with_a_405_refusal() -> None:
    conn = DockerConnection()
    conn.receive(b"CONNECT x:1 HTTP/1.1\r\nHost: x\r\n\r\n", 0.0)
    event = conn.next_event(0.0)
    assert isinstance(event, Request) and event.refusal is not None
    status, fault = event.refusal
    assert (status, fault.side, fault.kind) == (405, "docker", "method")
    assert not conn.answered(event.message, True, 0.0)  # never kept after CONNECT
    assert isinstance(conn.next_event(0.0), Closed)


def test_a_request_begun_times_out_an_idle_connection_never() -> None:
    conn = DockerConnection(header_timeout=2.0)
    assert conn.deadline() is None and conn.next_event(100.0) is NEED_DATA
    conn.receive(b"POST /x HTTP/1.1\r\nHo", 10.0)
    assert conn.deadline() == 12.0
    assert conn.next_event(11.9) is NEED_DATA
    event = conn.next_event(12.0)
    assert isinstance(event, Refuse) and event.status == 408
    assert event.fault.kind == "timeout" and event.data == b"POST /x HTTP/1.1\r\nHo"


def test_pipelined_bytes_start_the_clock_when_the_answer_went_out() -> None:
    conn = DockerConnection(header_timeout=2.0)
    conn.receive(RAW + RAW[:5], 0.0)
    event = conn.next_event(0.0)
    assert isinstance(event, Request) and conn.deadline() is None
    assert conn.answered(event.message, True, 50.0)
    assert conn.deadline() == 52.0


def test_end_of_file_in_the_middle_is_a_400_and_between_requests_a_close() -> None:
    cut = DockerConnection()
    cut.receive(RAW[:-3], 0.0)
    cut.receive(b"", 0.0)
    event = cut.next_event(0.0)
    assert isinstance(event, Refuse) and event.status == 400
    assert "without sending complete message body" in event.fault.message
    clean = DockerConnection()
    clean.receive(b"", 0.0)
    assert isinstance(clean.next_event(0.0), Closed)


def test_malformed_and_too_large_are_refused() -> None:
    bad = DockerConnection()
    bad.receive(b"POST /x HTTP/1.1\r\nNo colon\r\n\r\n", 0.0)
    event = bad.next_event(0.0)
    assert isinstance(event, Refuse) and event.status == 400 and event.fault.side == "docker"
    big = DockerConnection(max_body=4)
    big.receive(RAW, 0.0)
    event = big.next_event(0.0)
    assert isinstance(event, Refuse) and event.status == 413 and event.fault.side == "proxy"


def test_connection_close_ends_after_the_answer() -> None:
    conn = DockerConnection()
    conn.receive(RAW.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1), 0.0)
    event = conn.next_event(0.0)
    assert isinstance(event, Request) and not event.message.keep_alive
    assert not conn.answered(event.message, True, 0.0)
    closed = conn.next_event(0.0)
    assert isinstance(closed, Closed) and "not kept alive" in closed.reason


def test_idle_between_requests_only() -> None:
    conn = DockerConnection()
    assert conn.idle  # nothing received yet
    conn.receive(RAW[:10], 0.0)
    assert not conn.idle  # a request begun
    conn.receive(RAW[10:], 0.0)
    event = conn.next_event(0.0)
    assert isinstance(event, Request) and not conn.idle  # busy
    assert conn.answered(event.message, True, 0.0) and conn.idle
    conn.receive(b"", 0.0)
    assert not conn.idle and isinstance(conn.next_event(0.0), Closed)


@given(st.lists(st.one_of(
    st.tuples(st.just("receive"), st.sampled_from([RAW, RAW[:7], RAW[7:], RAW + RAW[:3], b"",
                                                   b"GET / HTTP/1.1\r\n\r\n", b"\x00"])),
    st.tuples(st.just("answer"), st.booleans()),
    st.tuples(st.just("next"), st.floats(0.0, 30.0))), max_size=12))
def test_idle_means_next_event_can_only_need_data(steps: list[tuple[str, object]]) -> None:
    """What the relay skips when the connection is idle (asking for the next event) would
    have given nothing but NEED_DATA, and no deadline to arm."""
    conn = DockerConnection(header_timeout=2.0)
    busy: Request | None = None
    for action, arg in steps:
        if conn.idle:
            assert conn.deadline() is None and conn.next_event(1e9) is NEED_DATA
        if action == "receive":
            assert isinstance(arg, bytes)
            conn.receive(arg, 0.0)
        elif action == "answer" and busy is not None:
            conn.answered(busy.message, bool(arg), 0.0)
            busy = None
        elif action == "next":
            assert isinstance(arg, float)
            event = conn.next_event(arg)
            if isinstance(event, Request):
                busy = event
