"""The filter box: which rows of a board a filter text keeps.

The text is compiled to a predicate over one exchange by the filter language that ``show``
uses, and applied on the server, so the page and the command line always agree. The language
is ``show``'s selection written as words: ``errors`` keeps failed exchanges, exchange numbers
(``3-7``, ``5``, ``3-``, ``-7``, or lists such as ``1,4-6``) keep those, any other word keeps
endpoints whose name contains it (``RequestAddress``, ``networkdriver``); every kind of word
given must hold, within a kind any one is enough.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from ipamx_spy.export.trace import Selection, SelectionError, parse_range
from ipamx_spy.recording import Exchange

from .view import Board, exchange_id, items, section_id

Predicate = Callable[[Exchange], bool]
RANGE = re.compile(r"^[\d,\-]+$")


class QueryError(ValueError):
    """A filter text that cannot be compiled; the message says what is wrong."""


def compile_query(text: str) -> Predicate | None:
    """The predicate for a filter text, None for a blank one (everything is shown).

    Raises QueryError for a malformed number range."""
    if not text.strip():
        return None
    ranges: list[tuple[int, int | None]] = []
    endpoints: list[str] = []
    errors = False
    for word in text.split():
        if word.lower() in {"errors", "error", "failed"}:
            errors = True
        elif RANGE.match(word):
            try:
                ranges += parse_range(word)
            except SelectionError as exc:
                raise QueryError(str(exc).replace("--range ", "")) from None
        else:
            endpoints.append(word)
    return Selection(ranges=tuple(ranges), endpoints=tuple(endpoints), errors=errors).accepts


def shown(board: Board, keep: Predicate | None) -> list[str]:
    """Ids of the rows ``keep`` accepts and of the sections holding at least one of them
    (``None``: every row and section)."""
    if keep is None:
        return [item.id for item in items(board)]
    ids: list[str] = []
    for index, host in enumerate(board.hosts):
        for number, section in enumerate(host.trace.sections, 1):
            kept = [exchange_id(board, index, e.seq) for e in section.exchanges if keep(e)]
            if kept:
                ids.append(section_id(board, index, number))
                ids += kept
    return ids
