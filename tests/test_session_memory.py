"""A recording session's memory does not grow with its exchanges (issue #14: RSS after 1,000,000
exchanges at most 20 MiB above after 10,000; ``bench/memory.py`` measures that figure). The
session keeps per-endpoint aggregates for the summary, not the exchanges, whether it writes
each line at once or holds the lines of one turn of the event loop for one write."""

from __future__ import annotations

import os
import tracemalloc
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from wire import framed

from ipamx_spy import tap
from ipamx_spy.client import docker_request
from ipamx_spy.proxy import ProxySession, answer
from ipamx_spy.recording import Exchange, RecordingWriter, make_header

REQUEST = docker_request(
    "IpamDriver.RequestAddress",
    b'{"PoolID":"LocalDefault/10.4.0.0/16","Address":"","Options":null}\n', host="")
RELEASE = docker_request(
    "IpamDriver.ReleaseAddress",
    b'{"PoolID":"LocalDefault/10.4.0.0/16","Address":"10.4.0.2"}\n', host="")
ADDRESS = answer(200, b'{"Address":"10.4.0.2/16","Data":{}}\n').raw
RELEASED = answer(200, b"{}\n").raw
GROWTH_ALLOWED = 256 * 1024  # bytes for 20,000 more exchanges (a list of them: ~70 MB)


class LineSink:
    """A sink that takes the session's lines, as the checking sink's feed does (counted)."""

    def __init__(self) -> None:
        self.lines = 0

    def on_line(self, line: bytes) -> None:
        self.lines += 1

    def on_lines(self, lines: Sequence[bytes]) -> None:
        self.lines += len(lines)

    def on_record(self, record: dict[str, Any], exchange: Exchange | None) -> None:
        self.lines += 1

    def on_waiting(self, seq: int, conn: int, endpoint: str, waited_s: float) -> None:
        """Nothing waits here."""

    def on_sink_error(self, message: str) -> None:
        raise AssertionError(message)


def _exchanges(session: ProxySession, *, held: bool) -> Callable[[int], None]:
    pairs = [(framed(REQUEST, tap.RequestTap), framed(ADDRESS, tap.ResponseTap)),
             (framed(RELEASE, tap.RequestTap), framed(RELEASED, tap.ResponseTap))]
    conn = session.open()

    def run(count: int) -> None:
        for n in range(count):
            request, reply = pairs[n % 2]
            pending = session.begin(conn, request.target)
            session.prepare(pending, request)
            exchange = session.complete(pending, request, reply, upstream_ms=0.05, hold=held)
            if held:
                session.flush()  # before the answer goes out, as the relay does
            session.publish(exchange, hold=held)
            if held:
                session.flush_sinks()  # at the end of the relay's turn
    return run


@pytest.mark.parametrize("held", [False, True], ids=["line by line", "held for one write"])
def test_a_recording_session_holds_no_more_after_20000_more_exchanges(
        held: bool, tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    writer = RecordingWriter(path, make_header(name="memory"))
    header_size = path.stat().st_size
    sink = LineSink()
    session = ProxySession(writer=writer, sinks=[sink])
    run = _exchanges(session, held=held)
    run(2000)
    os.truncate(path, header_size)  # the file's size is not the question (O_APPEND)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        run(20000)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
        writer.close()
    assert session.summary.calls == 22000
    assert sink.lines == 1 + 22000  # the connection's open record, then every exchange
    assert path.read_bytes().count(b'"type":"exchange"') == 20000
    assert grown < GROWTH_ALLOWED, f"{grown} bytes for 20,000 exchanges"
