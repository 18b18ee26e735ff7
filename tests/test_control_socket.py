"""The control socket answers a line over its limit with a clear error (issue 11 item 16)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from ipamx_spy.aio.control import LINE_LIMIT, serve_control


def test_a_line_over_the_limit_gets_a_clear_error(sockdir: Path) -> None:
    path = sockdir / "c.ctl"
    seen: list[dict[str, Any]] = []

    def handler(request: dict[str, Any]) -> dict[str, Any]:
        seen.append(request)
        return {"ok": True}

    async def scenario() -> list[bytes]:
        server = await asyncio.start_unix_server(
            lambda r, w: serve_control(r, w, handler), path=str(path))
        async with server:
            reader, writer = await asyncio.open_unix_connection(str(path))
            writer.write(b'{"mark":"ok"}\n')
            writer.write(json.dumps({"mark": "x" * (LINE_LIMIT + 10)}).encode() + b"\n")
            await writer.drain()
            answers = [await asyncio.wait_for(reader.readline(), 10) for _ in range(3)]
            writer.close()
            return answers

    first, second, end = asyncio.run(scenario())
    assert json.loads(first) == {"ok": True} and seen == [{"mark": "ok"}]
    error = json.loads(second)
    assert error["ok"] is False and "at most 64 KiB" in error["error"]
    assert end == b""  # the server closed that connection
