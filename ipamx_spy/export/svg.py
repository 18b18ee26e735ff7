"""SVG: the terminal rendering of the selected exchanges, for slides (select with ``--range``).

rich's SVG names web fonts on a CDN next to the local ones; the references are dropped so that
the file never makes a network request (the local Fira Code, or any monospace font, is used).
"""

from __future__ import annotations

import re

from .terminal import print_trace, recording_console
from .trace import Trace

_REMOTE_FONT = re.compile(r',\s*url\("https?://[^"]*"\)\s*format\("[^"]*"\)')


def title(trace: Trace) -> str:
    seqs = [e.seq for e in trace.exchanges]
    shown = f" #{seqs[0]}–#{seqs[-1]}" if seqs else ""
    return f"ipamx-spy show {trace.source}{shown}"


def export_svg(trace: Trace) -> str:
    """A self-contained SVG of what ``ipamx-spy show`` prints, ``trace.options.width`` wide."""
    console = recording_console(trace.options.width)
    print_trace(trace, console, soft_wrap=False)
    return _REMOTE_FONT.sub("", console.export_svg(title=title(trace)))
