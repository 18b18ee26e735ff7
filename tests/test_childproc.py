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


def _in_pipe(fd: int) -> int:
    """Bytes waiting in a pipe (FIONREAD)."""
    import array
    import fcntl
    import termios

    count = array.array("i", [0])
    fcntl.ioctl(fd, termios.FIONREAD, count)
    return count[0]


def test_read_ahead_empties_the_pipe_between_batches_and_hands_out_every_line() -> None:
    from ipamx_spy.childproc import open_pipe, read_ahead

    read_end, write_end = open_pipe()
    lines = [b"R%05d" % n + b"x" * 94 for n in range(2000)]
    os.write(write_end, b"\n".join(lines[:1000]) + b"\n")
    batches = read_ahead(read_end, batch=10)
    first = next(batches)
    assert first == lines[:10]
    assert _in_pipe(read_end) == 0  # the rest is in the backlog: the writer has the room
    os.write(write_end, b"\n".join(lines[1000:]) + b"\n")
    os.close(write_end)
    later = list(batches)
    assert all(len(batch) <= 10 for batch in later)
    assert first + [line for batch in later for line in batch] == lines
    os.close(read_end)


def test_read_ahead_holds_no_more_than_its_backlog() -> None:
    from ipamx_spy.childproc import open_pipe, read_ahead

    read_end, write_end = open_pipe()
    first_part = b"".join(b"a" * 99 + b"\n" for _ in range(100))  # 10,000 bytes
    os.write(write_end, first_part)
    batches = read_ahead(read_end, backlog=5000, batch=10)
    assert len(next(batches)) == 10
    os.write(write_end, b"b" * 99 + b"\n")
    assert len(next(batches)) == 10  # 9,000 bytes held: over the backlog, the pipe not read
    assert _in_pipe(read_end) == 100
    os.close(write_end)
    rest = [line for batch in batches for line in batch]
    assert len(rest) == 81 and rest[-1] == b"b" * 99
    os.close(read_end)
