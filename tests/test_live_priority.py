"""The live view and the checking sink run at lower priority than the relay (issue #14:
"the view rate-limits drawing and runs at lower priority"): each child process is
``VIEW_NICE`` levels below the process that started it."""

from __future__ import annotations

import io
import os

from rich.console import Console

from ipamx_spy.live import VIEW_NICE, DetachedChecker, DetachedView, LiveView, ViewMode
from ipamx_spy.recording_writer import encode_line

MOST_NICE = 19  # Linux: a nice value is at most 19


def _niceness(pid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, pid)


def test_the_view_and_the_checking_sink_run_niced_below_the_proxy() -> None:
    read_end, write_end = os.pipe()  # the view's --json output
    out = Console(file=os.fdopen(write_end, "w"))
    view = DetachedView(LiveView(console=out, diagnostics=Console(file=io.StringIO()),
                                 mode=ViewMode.JSON))
    out.file.close()  # the view's child holds its own copy
    checking = DetachedChecker(None, on_finding=lambda f: None, on_failed=lambda e: None,
                               view=view)
    line = encode_line({"type": "marker", "t": 0.0, "text": "m", "after_seq": 0})
    try:
        checking.on_line(line)
        # The line went through the checking sink's child to the view's, and each child
        # nices itself before it reads its first line: once the view has written it out,
        # both children run at their priority.
        with os.fdopen(read_end, "rb", closefd=False) as got:
            assert got.readline() == line
        expected = min(MOST_NICE, _niceness(0) + VIEW_NICE)
        assert VIEW_NICE > 0
        assert _niceness(checking.pid) == expected
        assert _niceness(view._process.pid) == expected
    finally:
        checking.close()
        view.close()
        os.close(read_end)
