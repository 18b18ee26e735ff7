"""The pipe into a sink's child process: ``Feed`` never blocks, drops and counts."""

from __future__ import annotations

import os

from ipamx_spy.childproc import Feed


def _drain(fd: int) -> bytes:
    data = b""
    os.set_blocking(fd, False)
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except BlockingIOError:
            return data
        if not chunk:
            return data
        data += chunk


def test_put_many_writes_the_lines_in_order_and_counts_each_it_drops() -> None:
    read_end, write_end = os.pipe()
    gone: list[bool] = []
    feed = Feed(write_end, lambda: gone.append(True))
    lines = [b"R%d\n" % n for n in range(10)]
    feed.put_many(lines[:5])
    feed.put_many([])
    feed.put(lines[5])
    feed.put_many(lines[6:])
    assert _drain(read_end) == b"".join(lines)
    assert feed.dropped == 0
    while feed.put(b"x" * 4096):  # fill the pipe: the last put is dropped, or only partly taken
        pass
    before = feed.dropped
    feed.put_many(lines[:3])
    assert feed.dropped == before + 3
    _drain(read_end)
    os.close(read_end)
    feed.put_many(lines[:2])  # the reader is gone: said once, nothing more written
    assert gone == [True] and feed.closed
