"""Exports of a recording: one module per format and ``FORMATS``, a registry of pure functions.

Every format is ``Trace -> str`` (mitmproxy keeps its exporters the same way): build the trace
once with ``build_trace`` (redaction, selection, sections, findings) and hand it to any format.

>>> from ipamx_spy import recording
>>> from ipamx_spy.export import FORMATS, build_trace
>>> text = FORMATS["markdown"](build_trace(recording.load("talk.jsonl")))  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from .har import export_har
from .html import export_html
from .markdown import export_markdown
from .mermaid import export_mermaid
from .mitm import iter_mitm
from .records import export_json
from .svg import export_svg
from .trace import (
    Options,
    Selection,
    SelectionError,
    Trace,
    TraceView,
    build_trace,
    parse_range,
)

Format = Callable[[Trace], str]

FORMATS: dict[str, Format] = {
    "markdown": export_markdown,
    "html": export_html,
    "svg": export_svg,
    "mermaid": export_mermaid,
    "har": export_har,
    "json": export_json,
}

StreamFormat = Callable[[TraceView], Iterator[bytes]]

STREAM_FORMATS: dict[str, StreamFormat] = {
    "mitm": iter_mitm,
}
"""Binary formats, written chunk by chunk as they are made (one mitmproxy flow per chunk)."""

SUFFIXES: dict[str, str] = {
    "markdown": ".md", "html": ".html", "svg": ".svg", "mermaid": ".mmd", "har": ".har",
    "json": ".json", "mitm": ".mitm",
}

HEADERS_BY_DEFAULT: dict[str, bool] = {
    "markdown": False, "html": True, "svg": True, "mermaid": False, "har": True, "json": True,
    "mitm": True,
}
"""Whether a format shows HTTP headers when neither --headers nor --no-headers is given."""

__all__ = [
    "FORMATS", "HEADERS_BY_DEFAULT", "STREAM_FORMATS", "SUFFIXES", "Format", "Options",
    "Selection", "SelectionError", "StreamFormat", "Trace", "build_trace", "parse_range",
]
