"""The control socket: one JSON object per line in, one per line out (``ipamx-spy mark``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

Handler = Callable[[dict[str, Any]], dict[str, Any]]


LINE_LIMIT = 1 << 16  # asyncio's default stream limit, which the control server uses


class _TooLong(Exception):
    """A control line over the stream's limit; the client was told and is disconnected."""


async def _read_line(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    try:
        return await reader.readline()
    except ValueError:  # asyncio.LimitOverrunError is turned into ValueError by readline
        error = {"ok": False, "error": "a control request is one line of at most "
                                       f"{LINE_LIMIT // 1024} KiB; this one is longer"}
        writer.write((json.dumps(error) + "\n").encode())
        await writer.drain()
        raise _TooLong from None


async def serve_control(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        handler: Handler) -> None:
    """Answer control requests until the client closes. Bad input gets an error object."""
    try:
        while line := await _read_line(reader, writer):
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ValueError("a control request is a JSON object")
                answer = handler(request)
            except ValueError as exc:
                answer = {"ok": False, "error": str(exc)}
            writer.write((json.dumps(answer) + "\n").encode())
            await writer.drain()
    except (ConnectionError, _TooLong):
        pass
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
