"""The control socket: one JSON object per line in, one per line out (``ipamx-spy mark``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

Handler = Callable[[dict[str, Any]], dict[str, Any]]


async def serve_control(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        handler: Handler) -> None:
    """Answer control requests until the client closes. Bad input gets an error object."""
    try:
        while line := await reader.readline():
            try:
                request = json.loads(line)
                if not isinstance(request, dict):
                    raise ValueError("a control request is a JSON object")
                answer = handler(request)
            except ValueError as exc:
                answer = {"ok": False, "error": str(exc)}
            writer.write((json.dumps(answer) + "\n").encode())
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
