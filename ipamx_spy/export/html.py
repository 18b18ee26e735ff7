"""HTML: one self-contained page (inline CSS and JS, no network) for a projector or a browser.

The page is the web view's (``ipamx_spy.web.view``) with every item inlined and no server: a
sequence diagram of dockerd, ipamx-spy and the plugin, one labelled arrow pair per exchange
with its plain-words sentence beside it, headings for markers and inferred docker commands,
findings and notes inline, and the request and response on click. ``page.html#x7`` opens
exchange 7, ``page.html#all`` every exchange; the script marks ``<html data-ready="1">`` once
it has run. A merged trace of several hosts (``show``/``export`` given several recordings) gets
a lane set (dockerd, ipamx-spy, plugin) per host, its rows in the merge's order.
"""

from __future__ import annotations

from ipamx_spy.web.view import PageMode, board_of_merged, page_html

from .trace import Trace

__all__ = ["export_html"]


def export_html(trace: Trace) -> str:
    return page_html(board_of_merged(trace), mode=PageMode.STATIC)
