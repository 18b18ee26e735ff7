"""SVG: the terminal rendering of the selected exchanges, for slides (select with ``--range``).

rich's SVG names web fonts on a CDN next to the local ones; the references are dropped so that
the file never makes a network request (the local Fira Code, or any monospace font, is used).

Theory of operation
-------------------
rich's ``Console.export_svg`` lays out every segment a recording console holds, so the whole
drawing would be in memory. ``iter_svg`` makes the same bytes from a trace read a section at
a time: each renderable is printed into a recording console whose segments are taken out
right away, turned into their ``<text>`` (and background ``<rect>``) tags and written to
spooled temporary files (on disk past ``SPOOL_BYTES``). What the head of the file needs and
only the end of the pass knows (the height, the CSS classes, the title's exchange numbers,
the id rich derives from a checksum of every segment) is kept as it goes; the tags carry a
placeholder for the id, replaced as the spools are copied out after the head.
"""

from __future__ import annotations

import re
import tempfile
import zlib
from collections.abc import Iterator
from html import escape
from math import ceil
from typing import IO

from rich._export_format import CONSOLE_SVG_FORMAT
from rich.cells import cell_len
from rich.color import blend_rgb
from rich.console import RenderableType
from rich.segment import Segment
from rich.style import Style
from rich.terminal_theme import SVG_EXPORT_THEME

from .terminal import closing, opening, recording_console, section_renderables
from .trace import Trace, TraceView

_REMOTE_FONT = re.compile(r',\s*url\("https?://[^"]*"\)\s*format\("[^"]*"\)')
SPOOL_BYTES = 4 * 1024 * 1024
ID = "<@>"
"""The id's placeholder in the spooled tags: escaped text never holds a bare ``<``."""

CHAR_HEIGHT = 20
CHAR_WIDTH = CHAR_HEIGHT * 0.61  # rich's default font aspect ratio (Fira Code's)
LINE_HEIGHT = CHAR_HEIGHT * 1.22
MARGIN, PADDING_TOP, PADDING = 1, 40, 8
_THEME = SVG_EXPORT_THEME


def title(first: int | None, last: int | None, source: str) -> str:
    shown = f" #{first}–#{last}" if first is not None else ""
    return f"ipamx-spy show {source}{shown}"


def _number(value: object) -> str:
    return format(value, "g") if isinstance(value, float) else str(value)


def _tag(name: str, content: str | None = None, **attribs: object) -> str:
    """A tag as rich's ``export_svg`` writes it (``_x`` for ``x``, ``a_b`` for ``a-b``)."""
    written = " ".join(f'{k.lstrip("_").replace("_", "-")}="{_number(v)}"'
                       for k, v in attribs.items())
    return f"<{name} {written}>{content}</{name}>" if content else f"<{name} {written}/>"


def _css(style: Style) -> str:
    """A style's CSS rules, as rich's ``export_svg`` writes them."""
    color = (_THEME.foreground_color if style.color is None or style.color.is_default
             else style.color.get_truecolor(_THEME))
    bgcolor = (_THEME.background_color if style.bgcolor is None or style.bgcolor.is_default
               else style.bgcolor.get_truecolor(_THEME))
    if style.reverse:
        color, bgcolor = bgcolor, color
    if style.dim:
        color = blend_rgb(color, bgcolor, 0.4)
    rules = [f"fill: {color.hex}"]
    rules += ["font-weight: bold"] if style.bold else []
    rules += ["font-style: italic;"] if style.italic else []
    rules += ["text-decoration: underline;"] if style.underline else []
    rules += ["text-decoration: line-through;"] if style.strike else []
    return ";".join(rules)


class _Drawing:
    """The tags of a drawing's lines as they come, spooled; what its head needs, kept."""

    def __init__(self, width: int, matrix: IO[str], backgrounds: IO[str]) -> None:
        self.width = width
        self.matrix, self.backgrounds = matrix, backgrounds
        self.lines = 0
        self.checksum = zlib.adler32(b"")
        self.classes: dict[str, int] = {}
        self._css: dict[Style, str] = {}

    def add(self, segments: list[Segment]) -> None:
        """The segments of one print (each print ends its last line)."""
        shown = list(Segment.filter_control(segments))
        self.checksum = zlib.adler32(
            "".join(repr(segment) for segment in shown).encode("utf-8", "ignore"),
            self.checksum)
        for line in Segment.split_and_crop_lines(shown, length=self.width):
            self._line(line)
            self.lines += 1

    def _line(self, line: list[Segment]) -> None:
        x, y = 0, self.lines
        for text, segment_style, _control in line:
            style = segment_style or Style()
            css = self._css.get(style)
            if css is None:
                css = self._css[style] = _css(style)
            number = self.classes.setdefault(css, len(self.classes) + 1)
            cells = cell_len(text)
            self._background(style, x, y, cells)
            if text != " " * len(text):
                self.matrix.write(_tag(
                    "text", escape(text).replace(" ", "&#160;"), _class=f"{ID}-r{number}",
                    x=x * CHAR_WIDTH, y=y * LINE_HEIGHT + CHAR_HEIGHT,
                    textLength=CHAR_WIDTH * len(text), clip_path=f"url(#{ID}-line-{y})"))
            x += cells

    def _background(self, style: Style, x: int, y: int, cells: int) -> None:
        if style.reverse:
            fill = (_THEME.foreground_color.hex if style.color is None
                    else style.color.get_truecolor(_THEME).hex)
        elif style.bgcolor is not None and not style.bgcolor.is_default:
            fill = style.bgcolor.get_truecolor(_THEME).hex
        else:
            return
        self.backgrounds.write(_tag(
            "rect", fill=fill, x=x * CHAR_WIDTH, y=y * LINE_HEIGHT + 1.5,
            width=CHAR_WIDTH * cells, height=LINE_HEIGHT + 0.25,
            shape_rendering="crispEdges"))


def iter_svg(trace: TraceView) -> Iterator[str]:
    """A self-contained SVG of what ``ipamx-spy show`` prints, ``trace.options.width`` wide,
    in pieces; the same bytes as rich's ``export_svg`` of the whole recorded terminal."""
    console = recording_console(trace.options.width)
    first: int | None = None
    last: int | None = None
    with (tempfile.SpooledTemporaryFile(SPOOL_BYTES, mode="w+", encoding="utf-8") as matrix,
          tempfile.SpooledTemporaryFile(SPOOL_BYTES, mode="w+", encoding="utf-8") as rects):
        drawing = _Drawing(console.width, matrix, rects)

        def draw(renderables: Iterator[RenderableType]) -> None:
            for renderable in renderables:
                console.print(renderable, soft_wrap=False)
                with console._record_buffer_lock:  # what export_svg reads, taken as it comes
                    drawing.add(console._record_buffer[:])
                    console._record_buffer.clear()
                drawn = console.file  # the console's own copy of the text, not needed
                drawn.seek(0)
                drawn.truncate()

        draw(opening(trace))
        for section in trace.sections:
            if section.exchanges:
                first = section.exchanges[0].seq if first is None else first
                last = section.exchanges[-1].seq
            draw(section_renderables(trace, section))
        draw(closing(trace))
        named = title(first, last, trace.source)
        unique_id = "terminal-" + str(zlib.adler32(named.encode("utf-8", "ignore"),
                                                   drawing.checksum))
        head, before_backgrounds, tail = _frame(drawing, named, unique_id)
        yield head
        yield from _clip_paths(unique_id, drawing.width, max(drawing.lines - 1, 0))
        yield before_backgrounds
        yield from _copied(rects, unique_id)
        yield tail
        yield from _copied(matrix, unique_id)
        yield _AFTER_MATRIX


_AFTER_MATRIX = CONSOLE_SVG_FORMAT[CONSOLE_SVG_FORMAT.index("{matrix}") + len("{matrix}"):]


def _frame(drawing: _Drawing, named: str, unique_id: str) -> tuple[str, str, str]:
    """The SVG before the line clip paths, between them and the backgrounds, and between the
    backgrounds and the text matrix (the clip paths, one per line, are written as they are
    made by ``_clip_paths``: held whole, they and the copies ``format`` makes grew with the
    recording)."""
    last = max(drawing.lines - 1, 0)  # rich numbers the last line, not the count
    width = drawing.width
    terminal_width = ceil(width * CHAR_WIDTH + 2 * PADDING)
    terminal_height = (last + 1) * LINE_HEIGHT + PADDING_TOP + PADDING
    chrome = _tag("rect", fill=_THEME.background_color.hex, stroke="rgba(255,255,255,0.35)",
                  stroke_width="1", x=MARGIN, y=MARGIN, width=terminal_width,
                  height=terminal_height, rx=8)
    chrome += _tag("text", escape(named).replace(" ", "&#160;"), _class=f"{unique_id}-title",
                   fill=_THEME.foreground_color.hex, text_anchor="middle",
                   x=terminal_width // 2, y=MARGIN + CHAR_HEIGHT + 6)
    chrome += """
            <g transform="translate(26,22)">
            <circle cx="0" cy="0" r="7" fill="#ff5f57"/>
            <circle cx="22" cy="0" r="7" fill="#febc2e"/>
            <circle cx="44" cy="0" r="7" fill="#28c840"/>
            </g>
        """
    styles = "\n".join(f".{unique_id}-r{number} {{ {css} }}"
                       for css, number in drawing.classes.items())
    text = CONSOLE_SVG_FORMAT.format(
        unique_id=unique_id, char_width=CHAR_WIDTH, char_height=CHAR_HEIGHT,
        line_height=LINE_HEIGHT, terminal_width=CHAR_WIDTH * width - 1,
        terminal_height=(last + 1) * LINE_HEIGHT - 1,
        width=terminal_width + 2 * MARGIN, height=terminal_height + 2 * MARGIN,
        terminal_x=MARGIN + PADDING, terminal_y=MARGIN + PADDING_TOP, styles=styles,
        chrome=chrome, backgrounds="\0", matrix="\0", lines="\0")
    head, before_backgrounds, tail, _rest = _REMOTE_FONT.sub("", text).split("\0")
    return head, before_backgrounds, tail


CLIPS_PER_PIECE = 1024


def _clip_paths(unique_id: str, width: int, last: int) -> Iterator[str]:
    """rich's clip path of each line but the last, joined by newlines, 1,024 to a piece."""
    for start in range(0, last, CLIPS_PER_PIECE):
        piece = "\n".join(f"""<clipPath id="{unique_id}-line-{number}">
    {_tag("rect", x=0, y=number * LINE_HEIGHT + 1.5, width=CHAR_WIDTH * width,
          height=LINE_HEIGHT + 0.25)}
            </clipPath>""" for number in range(start, min(start + CLIPS_PER_PIECE, last)))
        yield piece if start == 0 else "\n" + piece


READ_CHARS = 1 << 16


def _copied(spool: IO[str], unique_id: str) -> Iterator[str]:
    """A spool's text with the id in place of its placeholder (one split across two reads
    is held back until the next)."""
    spool.seek(0)
    held = ""
    while chunk := spool.read(READ_CHARS):
        text = (held + chunk).replace(ID, unique_id)
        keep = next((n for n in range(len(ID) - 1, 0, -1) if text.endswith(ID[:n])), 0)
        held = text[len(text) - keep:] if keep else ""
        yield text[:len(text) - keep] if keep else text
    if held:
        yield held


def export_svg(trace: Trace) -> str:
    """The SVG in one string (``FORMATS``' form)."""
    return "".join(iter_svg(trace))
