"""``show``'s output as painted strings: the bytes rich would write, without rich's layout.

Theory of operation
-------------------
``show`` prints one panel per exchange, and rich's layout of a panel (measuring, padding,
grouping, cutting segments, combining styles) cost about 1 ms an exchange, three quarters of
``show``'s time. A ``Painter`` lays out the same renderables (``render.exchange_panel``'s
``Panel``, its ``Group``s, ``Text`` and ``JSON``; compact lines and section rules) itself: it
reads each ``Text``'s plain string and spans, wraps a line where rich wraps it (rich's own
``divide_line``), cuts the same segments rich's ``Text.render`` cuts (one at every span's
start and end) and writes each with the ANSI codes its style renders to on this console,
cached per style. What it cannot reproduce exactly, it declines (``paint`` returns None) and
the caller prints that renderable with rich: a tab or a control character, a line rich
would crop, a wide console's side-by-side grid, a recording console (SVG), a console that
cannot draw the box. ``tests/test_painted.py`` holds painted == printed, byte for byte, in
every colour system and several widths.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import pairwise
from operator import itemgetter

from rich import box
from rich._wrap import divide_line
from rich.cells import cell_len
from rich.color import ColorSystem
from rich.console import Console, Group, RenderableType
from rich.json import JSON
from rich.padding import Padding
from rich.panel import Panel
from rich.style import Style
from rich.text import Span, Text

from ipamx_spy.render import SideBySide

Segments = list[tuple[str, Style]]
Run = tuple[int, int, Style]

_AWKWARD = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")
"""Characters whose layout this painter leaves to rich (tabs, control codes)."""

_SYSTEMS = {"standard": ColorSystem.STANDARD, "256": ColorSystem.EIGHT_BIT,
            "truecolor": ColorSystem.TRUECOLOR, "windows": ColorSystem.WINDOWS}
_NULL = Style.null()
LAYOUTS_KEPT = 4096
"""Laid-out texts a ``Painter`` remembers at most (emptied when full): with the readers'
windows, a bound on what ``show`` holds however long the recording."""


class Declined(Exception):
    """A renderable this painter cannot lay out exactly as rich does."""


class Painter:
    """Paints renderables for one console, as ``console.print`` would write them."""

    def __init__(self, console: Console) -> None:
        self.width = console.width
        self.get_style = console.get_style
        self.system = _SYSTEMS.get(console.color_system) if console.color_system else None
        self.no_color = console.no_color
        self.usable = (not console.record and not console.legacy_windows
                       and not console.quiet and not console.is_jupyter
                       and console.encoding.lower().startswith("utf"))
        self._styles: dict[str | Style, Style] = {}
        self._combined: dict[tuple[Style, ...], Style] = {}
        self._codes: dict[Style, tuple[str, str]] = {}
        self._laid_out: dict[tuple[object, ...], list[str]] = {}

    def paint(self, renderable: RenderableType, *, soft_wrap: bool = False) -> str | None:
        """What ``console.print(renderable, soft_wrap=soft_wrap)`` would write, or None when
        the renderable is one this painter leaves to rich."""
        if not self.usable:
            return None
        try:
            if isinstance(renderable, Panel):
                return self._panel(renderable)
            if isinstance(renderable, Text):
                if soft_wrap:
                    return self._soft(renderable)
                return self._lines(self._layout(renderable, self.width, pad=False))
        except Declined:
            return None
        return None

    # -- styles ------------------------------------------------------------------------

    def _style(self, name: str | Style) -> Style:
        style = self._styles.get(name)
        if style is None:
            style = self._styles[name] = self.get_style(name, default=_NULL)
        return style

    def _combine(self, styles: tuple[Style, ...]) -> Style:
        style = self._combined.get(styles)
        if style is None:
            style = self._combined[styles] = Style.combine(styles)
        return style

    def _paint(self, segments: Segments) -> str:
        codes = self._codes
        parts = []
        for text, style in segments:
            found = codes.get(style)
            if found is None:
                found = codes[style] = self._codes_of(style)
            parts.append(f"{found[0]}{text}{found[1]}" if found[0] else text)
        return "".join(parts)

    def _codes_of(self, style: Style) -> tuple[str, str]:
        if not style or self.system is None:
            return ("", "")
        if self.no_color:
            style = style.without_color
        rendered = style.render("\0", color_system=self.system)
        if "\0" not in rendered or style.link:
            raise Declined(f"style {style} renders no codes around its text")
        start, end = rendered.split("\0")
        return (start, end)

    @staticmethod
    def _lines(lines: list[str]) -> str:
        return "".join(line + "\n" for line in lines)

    # -- text --------------------------------------------------------------------------

    def _runs(self, text: Text) -> list[Run]:
        return self._runs_of(text.plain, text.style, text.spans)

    def _runs_of(self, plain: str, style: str | Style, spans: Sequence[Span]) -> list[Run]:
        """The segments ``Text.render`` cuts: (start, end, style), a cut at every span's
        start and end, each run's style its spans' combined in their order."""
        base = self._style(style)
        if not spans:
            return [(0, len(plain), base)]
        styles = [base, *(self._style(span.style) for span in spans)]
        events = [(0, False, 0),
                  *((span.start, False, index) for index, span in enumerate(spans, 1)),
                  *((span.end, True, index) for index, span in enumerate(spans, 1)),
                  (len(plain), True, 0)]
        events.sort(key=itemgetter(0, 1))
        stack: list[int] = []
        runs: list[Run] = []
        for (offset, leaving, index), (next_offset, _, _) in pairwise(events):
            if leaving:
                stack.remove(index)
            else:
                stack.append(index)
            if next_offset > offset:
                runs.append((offset, next_offset,
                             self._combine(tuple(styles[i] for i in sorted(stack)))))
        return runs

    def _layout(self, text: Text, width: int, *, pad: bool) -> list[str]:
        """The painted lines ``text`` takes ``width`` cells wide (padded to it when ``pad``),
        kept for the next text with the same plain string and spans (labels, headers and
        bodies repeat from one exchange to the next)."""
        key = (text.plain, tuple(text.spans), text.style, text.no_wrap, width, pad)
        known = self._laid_out.get(key)
        if known is None:
            if len(self._laid_out) >= LAYOUTS_KEPT:
                self._laid_out.clear()
            known = self._laid_out[key] = [self._paint(line)
                                           for line in self._cut(text, width, pad=pad)]
        return known

    def _cut(self, text: Text, width: int, *, pad: bool) -> list[Segments]:
        plain = text.plain
        if _AWKWARD.search(plain) or width < 1 or text.end != "\n":
            raise Declined("a tab or a control character")
        if "\n\n" in plain:  # rich styles an empty line in a way the runs do not follow
            raise Declined("an empty line")
        if text.overflow not in (None, "fold") or text.justify not in (None, "default"):
            raise Declined("an overflow or justification of its own")
        runs = self._runs(text)
        lines: list[Segments] = []
        start = 0
        first = 0  # the first run that may reach into the next piece
        for part in plain.split("\n"):
            for low, high in self._pieces(part, start, width, no_wrap=bool(text.no_wrap)):
                cells = cell_len(plain[low:high])
                if cells > width:
                    raise Declined("a line rich would crop")
                while first < len(runs) and runs[first][1] <= low:
                    first += 1
                line: Segments = []
                for run_start, run_end, style in runs[first:]:
                    if run_start >= high:
                        break
                    line.append((plain[max(run_start, low):min(run_end, high)], style))
                if pad and cells < width:
                    line.append((" " * (width - cells), _NULL))
                lines.append(line)
            start += len(part) + 1
        return lines

    @staticmethod
    def _pieces(part: str, start: int, width: int, *, no_wrap: bool) -> list[tuple[int, int]]:
        """The (start, end) offsets of the lines one line of text wraps to, as ``Text.wrap``
        divides it and strips the whitespace that hangs past the width."""
        if no_wrap or cell_len(part) <= width:  # divide_line would not break it
            return [(start, start + len(part))]
        offsets = divide_line(part, width, fold=True)
        bounds = [0, *offsets] if offsets and offsets[-1] == len(part) \
            else [0, *offsets, len(part)]
        pieces = []
        for low, high in pairwise(bounds):
            if high - low > width:
                hanging = len(part[low:high]) - len(part[low:high].rstrip())
                high -= min(hanging, high - low - width)
            pieces.append((start + low, start + high))
        return pieces or [(start, start)]

    def _soft(self, text: Text) -> str:
        """A ``Text`` printed with ``soft_wrap``: no wrapping, no cropping."""
        plain = text.plain
        if _AWKWARD.search(plain) or "\n" in plain:
            raise Declined("a tab, a control character or a line break")
        return self._paint([(plain[a:b], style) for a, b, style in self._runs(text)]) \
            + text.end

    # -- panels ------------------------------------------------------------------------

    def _panel(self, panel: Panel) -> str:
        width = self.width
        if (panel.box is not box.ROUNDED or not panel.expand or panel.width is not None
                or panel.height is not None or panel.subtitle is not None
                or panel.title_align != "left" or not isinstance(panel.title, Text)
                or Padding.unpack(panel.padding) != (0, 1, 0, 1) or width < 6
                or self._style(panel.style)):
            raise Declined("a panel of another shape")
        border = self._combine((self._style(panel.style), self._style(panel.border_style)))
        inner = width - 4
        side = self._paint([("│", border)])
        left, right = f"{side} ", f" {side}\n"
        top = [("╭─", border), *self._title(panel.title, border, inner), ("─╮", border)]
        out = [self._paint(top), "\n"]
        for renderable in self._flatten(panel.renderable, inner):
            out.extend(f"{left}{line}{right}"
                       for line in self._layout(renderable, inner, pad=True))
        out.append(self._paint([("╰" + "─" * (width - 2) + "╯", border)]) + "\n")
        return "".join(out)

    def _title(self, title: Text, border: Style, width: int) -> Segments:
        plain = " " + title.plain.replace("\n", " ") + " "
        if _AWKWARD.search(plain):
            raise Declined("a tab or a control character in the title")
        cells = cell_len(plain)
        if cells > width:
            raise Declined("a title rich would cut")
        # as Panel pads the title by a space each side and puts the border's style under it
        spans = [Span(0, len(plain), border),
                 *(Span(span.start + 1, span.end + 1, span.style) for span in title.spans)]
        segments = [(plain[a:b], style)
                    for a, b, style in self._runs_of(plain, title.style, spans)]
        if cells < width:
            segments.append(("─" * (width - cells), border))
        return segments

    def _flatten(self, renderable: RenderableType, width: int) -> Sequence[Text]:
        """The ``Text``s a group of texts renders, in order (a ``JSON`` is its text)."""
        if isinstance(renderable, Text):
            return [renderable]
        if isinstance(renderable, JSON):
            return [renderable.text]
        if isinstance(renderable, Group):
            return [text for child in renderable.renderables
                    for text in self._flatten(child, width)]
        if isinstance(renderable, SideBySide) and width < SideBySide.WIDE:
            return [*self._flatten(renderable.left, width),
                    *self._flatten(renderable.right, width)]
        raise Declined(f"a {type(renderable).__name__}")
