"""The detached live view: a non-blocking pipe that drops and counts, never waits."""

from __future__ import annotations

import io
import json
import os
import threading
from typing import Any

from rich.console import Console

from ipamx_spy.live import DetachedView, LiveView, _Drawer


def record(seq: int) -> dict[str, Any]:
    return {"type": "marker", "t": 0.0, "text": f"m{seq} " + "x" * 400, "after_seq": seq}


def test_a_view_nobody_reads_drops_and_counts_instead_of_blocking() -> None:
    read_end, write_end = os.pipe()  # --json into a pipe nobody reads
    try:
        out = Console(file=os.fdopen(write_end, "w", closefd=False))
        diagnostics = io.StringIO()
        view = DetachedView(LiveView(console=out, diagnostics=Console(file=diagnostics),
                                     mode="json"))
        for seq in range(20_000):  # 8 MB: far more than the pipes hold
            view.on_record(record(seq), None)
        assert view.dropped > 0
        assert view.close(timeout=1.0) == []
        assert f"skipped {view.dropped} record(s)" in diagnostics.getvalue()
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_view_that_keeps_up_gets_every_line_in_order() -> None:
    read_end, write_end = os.pipe()
    got = bytearray()

    def drain() -> None:
        while chunk := os.read(read_end, 65536):
            got.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    out = Console(file=os.fdopen(write_end, "w"))
    view = DetachedView(LiveView(console=out, diagnostics=Console(file=io.StringIO()),
                                 mode="json"))
    out.file.close()  # the child holds its own copy
    for seq in range(200):
        view.on_record(record(seq), None)
    view.close()
    reader.join(10)
    lines = [json.loads(line) for line in got.decode().splitlines()]
    assert view.dropped == 0
    assert [line["after_seq"] for line in lines] == list(range(200))


def test_drawing_is_rate_limited_but_every_exchange_is_validated() -> None:
    checked: list[int] = []

    class Checker:
        def check(self, exchange: Any) -> list[Any]:
            checked.append(exchange.seq)
            return []

        def on_close(self, conn: int, t: float, unanswered: Any = (),
                     endpoint: str = "") -> list[Any]:
            return []

    screen = io.StringIO()
    view = LiveView(console=Console(file=screen, width=100), diagnostics=Console(file=screen),
                    mode="full", checker=Checker())
    drawer = _Drawer(view, clock=lambda: 0.0)
    exchange = {"type": "exchange", "seq": 1, "conn": 1, "t": 0.0,
                "endpoint": "Plugin.Activate", "duration_ms": 0.1, "upstream_ms": 0.1,
                "answered_by": "plugin",
                "request": {"method": "POST", "target": "/Plugin.Activate", "headers": [],
                            "body": {"encoding": "empty"}},
                "response": {"status": 200, "reason": "OK", "headers": [],
                             "body": {"encoding": "json", "json": {"Implements": []},
                                      "layout": "go"}},
                "fault": None}
    lines = [b"R" + json.dumps({**exchange, "seq": n}).encode() for n in range(1, 1001)]
    for line in lines:
        drawer.batch([line])
    drawer.flush()
    assert checked == list(range(1, 1001))
    assert "not drawn (drawing rate limit)" in screen.getvalue()
