"""HTML: one self-contained page (inline CSS and JS, no network) for a projector or a browser.

The page is the web view's (``ipamx_spy.web.view``) with every item inlined and no server: a
sequence diagram of dockerd, ipamx-spy and the plugin, one labelled arrow pair per exchange
with its plain-words sentence beside it, headings for markers and inferred docker commands,
findings and notes inline, and the request and response on click. ``page.html#x7`` opens
exchange 7, ``page.html#all`` every exchange; the script marks ``<html data-ready="1">`` once
it has run. A merged trace of several hosts (``show``/``export`` given several recordings) gets
a lane set (dockerd, ipamx-spy, plugin) per host, its rows in the merge's order.

``iter_html`` reads the trace a section at a time: the rows go to a spooled temporary file
(on disk past ``SPOOL_BYTES``) while the line of facts above them (exchanges, failures,
notes) is counted, then the page's head, the rows and its end are written out. A merged
trace's rows are ordered across its hosts, so they are laid out together.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, cast

from ipamx_spy import render
from ipamx_spy.infer import Section
from ipamx_spy.web.view import (
    Board,
    PageMode,
    board_of_merged,
    exchange_html,
    facts_text,
    items,
    page_html,
    section_html,
)

from .trace import Trace, TraceView

__all__ = ["export_html", "iter_html"]

SPOOL_BYTES = 4 * 1024 * 1024
_ROWS = "\0"  # where the rows go in the page (its stylesheet and script hold no NUL)


@dataclass
class _Facts:
    """The counts of the page's line of facts, as the sections pass."""

    exchanges: int = 0
    failed: int = 0
    logged: int = 0
    notes: int = 0

    def add(self, trace: TraceView, section: Section) -> None:
        for exchange in section.exchanges:
            reading = render.read(exchange)
            self.exchanges += 1
            self.failed += reading.problem is not None
            self.logged += reading.only_logged
            self.notes += len(trace.notes_for(exchange.seq))


def _rows(board: Board, trace: TraceView, facts: _Facts) -> Iterator[str]:
    """Every heading and row of the page, in its order (as ``view.items``)."""
    if board.merged:
        for section in trace.sections:
            facts.add(trace, section)
        yield from (item.html for item in items(board))
        return
    for number, section in enumerate(trace.sections, 1):
        facts.add(trace, section)
        yield section_html(board, 0, number, section)
        for exchange in section.exchanges:
            yield exchange_html(board, 0, exchange)


def iter_html(trace: TraceView) -> Iterator[str]:
    """The page in pieces, the same bytes as ``page_html`` of the whole trace."""
    board = board_of_merged(cast(Trace, trace))
    facts = _Facts()
    with tempfile.SpooledTemporaryFile(SPOOL_BYTES, mode="w+", encoding="utf-8") as spool:
        for number, row in enumerate(_rows(board, trace, facts)):
            spool.write(f"\n{row}" if number else row)
        meta = facts_text(board, exchanges=facts.exchanges, failed=facts.failed,
                          logged=facts.logged, findings=len(trace.findings),
                          notes=facts.notes)
        head, tail = page_html(board, mode=PageMode.STATIC, rendered=[_ROWS],
                               meta=meta).split(_ROWS)
        yield head
        yield from _copied(spool)
        yield tail


def _copied(spool: IO[str], size: int = 1 << 16) -> Iterator[str]:
    spool.seek(0)
    while chunk := spool.read(size):
        yield chunk


def export_html(trace: Trace) -> str:
    """The page in one string (``FORMATS``' form)."""
    return "".join(iter_html(trace))

