"""The live view: a session sink that prints each exchange as it completes."""

from __future__ import annotations

import ctypes
import json
import os
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from rich.console import Console
from rich.text import Text

from . import render
from .filters import Context, Filter
from .findings import Finding
from .recording import Exchange


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
MAX_BATCH = 500


def _detach_from_signals(parent: int) -> None:
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


class DetachedView:
    """Runs a LiveView in a child process, so rendering never slows the relay.

    The relay hands each record over a queue (a non-blocking put) and goes on; the child
    rebuilds the exchange and renders it. Under a burst the view may lag; nothing is dropped.
    ``close()`` waits for the child to render everything and returns its findings.
    """

    def __init__(self, view: LiveView) -> None:
        import multiprocessing

        context = multiprocessing.get_context("fork")
        self._view = view
        self._parent = os.getpid()
        self._queue: Any = context.Queue()  # put() never blocks: a feeder thread writes
        self._results, self._results_in = context.Pipe(duplex=False)
        self._process = context.Process(target=self._child, name="ipamx-spy live view",
                                        daemon=True)
        self._process.start()
        self._results_in.close()  # the child's copy is the only writer: EOF when it dies
        self._lost = False

    def _child(self) -> None:
        _detach_from_signals(self._parent)
        done = False
        while not done:
            batch = [self._queue.get()]
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get())
            done = None in batch
            self._render([item for item in batch if item is not None])
        self._results_in.send([f.to_json() for f in self._view.findings])

    def _render(self, batch: list[tuple[str, Any]]) -> None:
        """Draw a batch; a burst is drawn compactly so that the view keeps up."""
        burst = self._view.mode == "full" and len(batch) > BURST
        if burst:
            self._view.diagnostics.print(Text(
                f"live view: {len(batch)} records arrived at once; one line each until the "
                "burst is over", style="dim"))
            self._view.mode = "compact"
        for kind, payload in batch:
            if kind == "record":
                is_exchange = payload.get("type") == "exchange"
                exchange = Exchange.from_json(payload) if is_exchange else None
                self._view.on_record(payload, exchange)
            elif kind == "waiting":
                self._view.on_waiting(*payload)
            else:
                self._view.on_sink_error(payload)
        if burst:
            self._view.mode = "full"

    def _put(self, item: tuple[str, Any] | None) -> None:
        """Hand an item to the view process; never blocks, never raises into the relay."""
        if self._process.is_alive():
            self._queue.put(item)
        elif not self._lost:
            self._lost = True
            self._view.diagnostics.print(Text(
                "ipamx-spy: the live view process is gone; recording goes on", style="bold red"))

    def on_record(self, record: dict[str, Any], exchange: Exchange | None) -> None:
        self._put(("record", record))

    def on_waiting(self, seq: int, conn: int, endpoint: str, waited_s: float) -> None:
        self._put(("waiting", (seq, conn, endpoint, waited_s)))

    def on_sink_error(self, message: str) -> None:
        self._put(("error", message))

    def close(self, timeout: float = 30.0) -> list[Finding]:
        """Let the view draw what is left (bounded) and return the validator's findings."""
        self._put(None)
        findings = []
        try:
            if self._results.poll(timeout):
                findings = [Finding(**f) for f in self._results.recv()]
        except EOFError:  # the view process died without answering
            pass
        self._process.join(5)
        if self._process.is_alive():
            self._process.kill()
        self._queue.close()
        return findings
