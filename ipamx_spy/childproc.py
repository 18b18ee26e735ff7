"""Session sinks in child processes: the pipe that feeds them and the process they run in.

Theory of operation
-------------------
The terminal's live view, the checking sink (``ipamx_spy.live``) and the web page of
``proxy --web`` (``ipamx_spy.web.detached``) each run in a process of their own, forked from
the proxy, so that what they do never takes the relay's interpreter. They share the plumbing
here:

* ``open_pipe`` makes a pipe with a large kernel buffer, and ``Feed`` is the relay's end of it:
  it never blocks and never raises into the relay. A line the pipe has no room for is dropped
  and counted (the recording has every record); a line it took only part of is finished
  before the next one, so the reader never sees half a line followed by another.
* ``start_child`` forks the child, ``detach_from_signals`` (the child's first call) makes it
  ignore the terminal's Ctrl-C (the proxy ends it after draining) and die with its parent even
  when that is killed with SIGKILL, and names it for ``ps``; ``stop_child`` ends it, bounded.
* ``read_lines`` is the child's side: batches of whole lines until the pipe's end of file;
  ``read_ahead`` (the checking sink's) also empties the pipe into a bounded backlog between
  two batches, so that a sink behind its writer for a while checks the lines later instead
  of losing them.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import select
import signal
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
PIPE_SIZE = 1 << 20


def detach_from_signals(parent: int, name: bytes) -> None:
    """The child ends when its proxy says so, or dies with it (even by kill -9).

    Ctrl-C reaches every process of the terminal's group: the child ignores SIGINT and SIGTERM
    so that it can finish its work while the proxy shuts down, and asks Linux for SIGKILL when
    its parent dies. ``name`` (15 bytes at most) is what ``ps`` and ``top`` show.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        libc.prctl(15, ctypes.c_char_p(name[:15]))  # PR_SET_NAME: what ps and top show
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(0)


def encode_line(record: dict[str, Any]) -> bytes:
    """A line for a sink's pipe (the recording's own encoding), for what is not a record."""
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode(
        "utf-8", "surrogatepass")


def open_pipe() -> tuple[int, int]:
    """A pipe (read end, write end) whose kernel buffer is ``PIPE_SIZE`` when Linux allows."""
    read_end, write_end = os.pipe()
    with contextlib.suppress(OSError):
        fcntl.fcntl(write_end, F_SETPIPE_SZ, PIPE_SIZE)
    return read_end, write_end


class Feed:
    """The relay's end of a pipe into a child: never blocks, never raises into the relay.

    A line the pipe takes only part of is finished before the next one is written (the
    reader never sees half a line followed by another); a line that does not fit is dropped
    and counted. ``on_gone`` is called once when the child is gone (a broken pipe)."""

    def __init__(self, fd: int, on_gone: Callable[[], None]) -> None:
        self.fd = fd
        os.set_blocking(fd, False)
        self._on_gone = on_gone
        self._partial = b""
        self.closed = False
        self.dropped = 0

    def put(self, line: bytes) -> bool:
        """Hand over a line; False when it was dropped."""
        if self.closed:
            return False
        try:
            if self._partial:
                written = os.write(self.fd, self._partial)
                self._partial = self._partial[written:]
                if self._partial:
                    self.dropped += 1
                    return False
            written = os.write(self.fd, line)
            self._partial = line[written:]
        except BlockingIOError:
            self.dropped += 1
            return False
        except OSError:  # BrokenPipeError: the child is gone
            self.close()
            self._on_gone()
            return False
        return True

    def put_many(self, lines: Sequence[bytes]) -> None:
        """Hand over whole lines (each ending in a newline) in one write, as ``put`` hands
        over one; when they are dropped, each counts."""
        if lines and not self.put(b"".join(lines)):
            self.dropped += len(lines) - 1  # put counted one

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(OSError):
                os.close(self.fd)


def start_child(target: Callable[[], None], name: str) -> Any:
    """Fork a process running ``target`` (a daemon process of ``multiprocessing``: it holds
    no thread of the parent, and the parent's exit does not wait for it)."""
    import multiprocessing

    process = multiprocessing.get_context("fork").Process(target=target, name=name, daemon=True)
    process.start()
    return process


def read_lines(fd: int) -> Iterator[list[bytes]]:
    """Batches of whole lines read from ``fd`` until end of file (an unfinished last line is
    dropped)."""
    pending = b""
    while chunk := os.read(fd, PIPE_SIZE):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        yield lines


BACKLOG_BYTES = 32 << 20
"""What ``read_ahead`` holds at most of lines its reader has not taken yet."""
BATCH_LINES = 256


def read_ahead(fd: int, *, backlog: int = BACKLOG_BYTES,
               batch: int = BATCH_LINES) -> Iterator[list[bytes]]:
    """``read_lines`` for a reader slower than its writer at times: batches of at most
    ``batch`` whole lines, and between two batches everything the pipe holds is read into a
    backlog of the lines not handed out yet (up to ``backlog`` bytes), so that the pipe is
    emptied every ``batch`` lines and its writer drops only what would overflow the backlog
    too. Waits (blocks) only when the backlog is empty; ends at the pipe's end of file once
    the backlog is handed out."""
    os.set_blocking(fd, False)
    queue: deque[bytes] = deque()
    held = 0  # bytes in the queue
    pending = b""
    ended = False
    while True:
        while not ended and held < backlog:  # take what the pipe holds, never waiting
            try:
                chunk = os.read(fd, PIPE_SIZE)
            except BlockingIOError:
                if queue:
                    break
                select.select([fd], [], [])
                continue
            if not chunk:
                ended = True
                break
            pending += chunk
            *lines, pending = pending.split(b"\n")
            queue.extend(lines)
            held += len(chunk)
        if not queue:
            return
        out = [queue.popleft() for _ in range(min(batch, len(queue)))]
        held -= sum(len(line) + 1 for line in out)
        yield out


def stop_child(process: Any, timeout: float = 5.0) -> None:
    """Wait for ``process`` to end (bounded), and kill it when it does not."""
    process.join(timeout)
    if process.is_alive():
        process.kill()
        process.join(timeout)
