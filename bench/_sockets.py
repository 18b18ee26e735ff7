"""What the socket benchmarks share: waiting until a server they started listens."""

from __future__ import annotations

import socket
import time


def wait_socket(path: str, timeout: float = 30) -> None:
    """Return once ``path`` accepts a connection; RuntimeError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(path)
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {path}")
