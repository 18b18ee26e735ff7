"""The client side of a running proxy's control socket (``mark``; the server is ``aio.control``)."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any


def send_control(path: Path, request: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
    """One request to a running proxy's control socket. Raises OSError or ValueError."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall((json.dumps(request) + "\n").encode())
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    answer = json.loads(reply)
    if not isinstance(answer, dict):
        raise ValueError("the control socket answered something that is not a JSON object")
    return answer
