"""The filter box: which rows of a board a filter text keeps.

The text is ``show --filter``'s language (``ipamx_spy.filters``: ``RequestAddress``, ``~err``,
``~n 3-7``, ``~e Release & !~mark setup``, ...), compiled once and applied here, on the server,
to every exchange with its context (its section and its findings), so the page and the command
line always agree.
"""

from __future__ import annotations

from ipamx_spy.filters import EMPTY, Filter, FilterContext, FilterError, parse

from .view import Board, exchange_id, items, placed_sections, section_id


class QueryError(ValueError):
    """A filter text that cannot be compiled; the message says what is wrong and where."""


def compile_query(text: str) -> Filter | None:
    """The filter for a text, None for a blank one (everything is shown).

    Raises QueryError with the filter language's message (the column at fault)."""
    if not text.strip():
        return None
    try:
        return parse(text)
    except FilterError as exc:
        raise QueryError(str(exc)) from None


def shown(board: Board, keep: Filter | None) -> list[str]:
    """Ids of the rows ``keep`` accepts and of the sections holding at least one of them
    (``None``: every row and section); the rows of requests still waiting for their answer
    are judged by their request, with no answer yet."""
    if keep is None:
        return [item.id for item in items(board)]
    ids: list[str] = []
    for index, number, section in placed_sections(board):
        trace = board.hosts[index].trace
        kept = [exchange_id(board, index, e.seq) for e in section.exchanges
                if keep(e, FilterContext(section_title=section.title, section_source=section.source,
                                   findings=trace.findings_for(e.seq)))]
        if kept:
            ids.append(section_id(board, index, number))
            ids += kept
    # a request still waiting is judged as it stands: its request, no answer yet
    ids += [exchange_id(board, 0, w.seq) for w in board.waiting if keep(w.exchange(), EMPTY)]
    return ids
