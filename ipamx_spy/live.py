"""The live view: a session sink that prints each exchange as it completes."""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from rich.console import Console
from rich.text import Text

from . import render
from .filters import Context, Filter
from .findings import Finding
from .recording import Exchange

F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)


class Checker(Protocol):
    def check(self, exchange: Exchange) -> list[Finding]: ...

    def on_close(self, conn: int, t: float, unanswered: Sequence[int] = (),
                 endpoint: str = "") -> list[Finding]: ...


@dataclass
class LiveView:
    """Prints to ``console``: a block per exchange, one line (``compact``) or JSON (``json``).

    ``checker`` (the validator) adds its findings inline; ``filter`` (``--filter``) draws only
    the exchanges it matches (all are still checked and recorded). Errors of the recording sink
    and requests that wait too long are announced on ``diagnostics``.
    """

    console: Console
    diagnostics: Console
    mode: str = "full"
    view: render.View = field(default_factory=render.View)
    checker: Checker | None = None
    findings: list[Finding] = field(default_factory=list)
    on_finding: Callable[[Finding], None] | None = None
    filter: Filter | None = None
    marker: str = ""
    header: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.mode not in {"full", "compact", "json", "quiet"}:
            raise ValueError(f"unknown live view mode {self.mode!r}")

    def on_record(self, record: dict[str, Any], exchange: Exchange | None) -> None:
        kind = record.get("type")
        found = self._check(exchange) if exchange is not None else []
        if self.mode == "json":
            self._write_json(record, found)
        if kind == "close" and self.checker is not None:
            closing = self.checker.on_close(int(record["conn"]), float(record["t"]),
                                            record.get("unanswered", ()))
            self.findings += closing
            self._print_findings(closing)
        if self.mode == "json" or self.mode == "quiet":
            return
        if exchange is not None:
            if self._shown(exchange, found):
                self._print_exchange(exchange, found)
        elif kind == "marker":
            self.marker = str(record["text"])
            self.console.print(render.marker_rule(self.marker))
        elif kind == "fault":
            self.console.print(Text(f"connection c{record['conn']}: {record['message']}",
                                    style="bold red"))

    def _write_json(self, record: dict[str, Any], found: Sequence[Finding]) -> None:
        """``--json``: the recording itself on stdout (its header first), each exchange with
        the validator's findings, so ``show`` and ``check`` read the stream as a file."""
        lines = []
        if self.header is not None:
            lines.append(self.header)
            self.header = None
        lines.append({**record, "findings": [f.to_json() for f in found]} if found else record)
        self.console.file.write("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in lines))
        self.console.file.flush()

    def _shown(self, exchange: Exchange, found: Sequence[Finding]) -> bool:
        if self.filter is None:
            return True
        context = Context(section_title=self.marker, section_source="marker" if self.marker
                          else "", findings=tuple(found))
        return self.filter(exchange, context)

    def _check(self, exchange: Exchange) -> list[Finding]:
        if self.checker is None:
            return []
        found = self.checker.check(exchange)
        self.findings += found
        return found

    def _print_findings(self, found: Sequence[Finding]) -> None:
        if self.mode in {"json", "quiet"}:
            return
        for finding in found:
            self.console.print(Text(f"{finding.code} {finding.severity}: {finding.message}",
                                    style=render.SEVERITY_STYLE[finding.severity]))

    def _print_exchange(self, exchange: Exchange, found: Sequence[Finding]) -> None:
        if self.mode == "compact":
            self.console.print(render.compact_block(exchange, found))
        else:
            self.console.print(render.exchange_panel(exchange, view=self.view, findings=found))

    def on_waiting(self, seq: int, conn: int, endpoint: str, waited_s: float) -> None:
        self.diagnostics.print(Text(
            f"#{seq} c{conn} {endpoint}: still waiting for the plugin after {waited_s:.0f} s "
            "(dockerd has no timeout for plugin calls: the docker command hangs meanwhile)",
            style="bold yellow"))

    def on_sink_error(self, message: str) -> None:
        self.diagnostics.print(Text(f"ipamx-spy: {message}", style="bold red"))


BURST = 8  # more records than this waiting at once: draw them one line each
PANELS_PER_S = 20  # full panels drawn per second at most; compact lines beyond that
LINES_PER_S = 200  # compact lines per second at most; beyond that, a count of what was skipped
PIPE_SIZE = 1 << 20
VIEW_NICE = 10


def detach_from_signals(parent: int) -> None:
    """The view process ends when its proxy says so, or dies with it (even by kill -9).

    Ctrl-C reaches every process of the terminal's group: the view ignores SIGINT and SIGTERM
    so that it can finish drawing while the proxy shuts down, and asks Linux for SIGKILL when
    its parent dies.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(0)


def encode_line(record: dict[str, Any]) -> bytes:
    """A record as one line for the view pipe (the recording's own encoding)."""
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode(
        "utf-8", "surrogatepass")


class ViewPipe:
    """The relay's end of a pipe to a view process (the terminal's live view, the web page).

    ``put`` hands one line and goes on: it never blocks and never raises into the relay. A line
    the full pipe cannot take is dropped and counted (``dropped``); when the reader is gone,
    ``on_gone`` is called once and every later line is ignored. Make it before forking; the
    child calls ``in_child()`` and reads ``read_end``, the parent calls ``forked()``.
    """

    def __init__(self, on_gone: Callable[[], None]) -> None:
        self.read_end, self._fd = os.pipe()
        with contextlib.suppress(OSError):
            fcntl.fcntl(self._fd, F_SETPIPE_SZ, PIPE_SIZE)
        self.on_gone = on_gone
        self.dropped = 0
        self.closed = False
        self._partial = b""  # the unwritten rest of a line the pipe took only part of

    def forked(self) -> None:
        os.close(self.read_end)
        os.set_blocking(self._fd, False)

    def in_child(self) -> None:
        os.close(self._fd)

    def record(self, kind: bytes, record: dict[str, Any]) -> None:
        """``kind`` and the record as one line (one that cannot be encoded is dropped)."""
        try:
            line = kind + encode_line(record)
        except (ValueError, RecursionError):
            self.dropped += 1
            return
        self.put(line)

    def put(self, line: bytes) -> None:
        if self.closed:
            return
        try:
            if self._partial:
                written = os.write(self._fd, self._partial)
                self._partial = self._partial[written:]
                if self._partial:
                    self.dropped += 1
                    return
            written = os.write(self._fd, line)
            self._partial = line[written:]
        except BlockingIOError:
            self.dropped += 1
        except OSError:  # BrokenPipeError: the view process is gone
            self.closed = True
            self.on_gone()

    def close(self) -> None:
        """No more lines: the reader sees the end (a line the pipe took only part of is left
        unfinished, and the reader ignores it)."""
        self.closed = True
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1


class DetachedView:
    """Runs a LiveView (and its validator) in a child process at lower priority.

    The relay writes each record as one line into a non-blocking pipe (``ViewPipe``) and goes
    on; when the pipe is full (the view lags, or ``--json`` goes to a pipe nobody reads) the
    record is dropped for the view and counted, never waited for: the recording has it. The
    child validates every record it gets, rate-limits drawing, and writes ``--json`` lines
    itself. ``close()`` waits (bounded) for the child and returns its findings.
    """

    def __init__(self, view: LiveView, *, nice: int = VIEW_NICE) -> None:
        import multiprocessing

        context = multiprocessing.get_context("fork")
        self._view = view
        self._nice = nice
        self._parent = os.getpid()
        self._pipe = ViewPipe(self._gone)
        self._results, self._results_in = context.Pipe(duplex=False)
        self._process = context.Process(target=self._child, name="ipamx-spy live view",
                                        daemon=True)
        self._process.start()
        self._pipe.forked()
        self._results_in.close()  # the child's copy is the only writer: EOF when it dies

    @property
    def dropped(self) -> int:
        return self._pipe.dropped

    # -- the child ----------------------------------------------------------------------

    def _child(self) -> None:
        detach_from_signals(self._parent)
        self._pipe.in_child()
        with contextlib.suppress(OSError):
            os.nice(self._nice)
        drawer = _Drawer(self._view)
        pending = b""
        while chunk := os.read(self._pipe.read_end, PIPE_SIZE):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            drawer.batch(lines)
        drawer.flush()
        self._results_in.send([f.to_json() for f in self._view.findings])

    # -- the relay's side ---------------------------------------------------------------

    def _gone(self) -> None:
        self._view.diagnostics.print(Text(
            "ipamx-spy: the live view process is gone; recording goes on", style="bold red"))

    def on_record(self, record: dict[str, Any], exchange: Exchange | None) -> None:
        self._pipe.record(b"R", record)

    def on_waiting(self, seq: int, conn: int, endpoint: str, waited_s: float) -> None:
        self._pipe.record(b"W", {"args": [seq, conn, endpoint, waited_s]})

    def on_sink_error(self, message: str) -> None:
        self._pipe.record(b"E", {"message": message})

    def close(self, timeout: float = 10.0) -> list[Finding]:
        """Let the view draw what is left (bounded) and return the validator's findings."""
        self._pipe.close()
        findings = []
        try:
            if self._results.poll(timeout):
                findings = [Finding(**f) for f in self._results.recv()]
        except EOFError:  # the view process died without answering
            pass
        self._process.join(5)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)
        if self.dropped:
            self._view.diagnostics.print(Text(
                f"ipamx-spy: the live view lagged and skipped {self.dropped} record(s); the "
                "recording has all of them", style="yellow"))
        return findings


class _Drawer:
    """The child's side: decode lines, validate every record, draw at a bounded rate."""

    def __init__(self, view: LiveView, clock: Callable[[], float] = time.monotonic) -> None:
        self.view = view
        self.clock = clock
        self.window = clock()
        self.panels = 0
        self.lines = 0
        self.skipped = 0

    def batch(self, lines: Sequence[bytes]) -> None:
        burst = self.view.mode == "full" and len(lines) > BURST
        if burst:
            self.view.diagnostics.print(Text(
                f"live view: {len(lines)} records arrived at once; one line each until the "
                "burst is over", style="dim"))
        for line in lines:
            try:
                self._one(line, burst)
            except Exception as exc:  # a record the view cannot draw is skipped, not fatal
                self.view.diagnostics.print(Text(f"live view: cannot draw a record: {exc!r}",
                                                 style="red"))

    def _one(self, line: bytes, burst: bool) -> None:
        if not line:
            return
        kind, payload = line[:1], json.loads(line[1:])
        if kind == b"W":
            self.view.on_waiting(*payload["args"])
            return
        if kind == b"E":
            self.view.on_sink_error(str(payload["message"]))
            return
        exchange = Exchange.from_json(payload) if payload.get("type") == "exchange" else None
        mode = self._mode(burst, exchange is not None)
        saved, self.view.mode = self.view.mode, mode
        try:
            self.view.on_record(payload, exchange)
        finally:
            self.view.mode = saved

    def _mode(self, burst: bool, is_exchange: bool) -> str:
        """The drawing mode for this record under the rate limit."""
        mode = self.view.mode
        if mode in {"json", "quiet"} or not is_exchange:
            return mode
        now = self.clock()
        if now - self.window >= 1.0:
            self.flush()
            self.window, self.panels, self.lines = now, 0, 0
        if mode == "full" and not burst and self.panels < PANELS_PER_S:
            self.panels += 1
            return "full"
        if self.lines < LINES_PER_S:
            self.lines += 1
            return "compact"
        self.skipped += 1
        return "quiet"

    def flush(self) -> None:
        if self.skipped:
            self.view.diagnostics.print(Text(
                f"live view: {self.skipped} exchange(s) not drawn (drawing rate limit); "
                "the recording has them", style="dim"))
            self.skipped = 0
