"""``ipamx-spy mark TEXT``: insert a marker into a running proxy's recording and live view."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import typer

from ..console import err, out
from .session_options import control_path


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


def register(app: typer.Typer) -> None:
    @app.command()
    def mark(
        text: str = typer.Argument(..., help="The marker, e.g. the docker command you run next."),
        name: str = typer.Option("ipamx", "--name", "-n", help="Name of the running proxy."),
        control: Path | None = typer.Option(None, help="Control socket path."),
    ) -> None:
        """Insert a marker into the live recording of a running `ipamx-spy proxy`."""
        path = control or control_path(name)
        try:
            answer = send_control(path, {"op": "mark", "text": text})
        except (OSError, ValueError) as exc:
            err.print(f"[red]ipamx-spy: no running proxy answers on {path}: {exc}[/]")
            raise typer.Exit(2) from exc
        if not answer.get("ok"):
            err.print(f"[red]ipamx-spy: {answer.get('error')}[/]")
            raise typer.Exit(1)
        marker = answer["marker"]
        out.print(f"marker after exchange #{marker['after_seq']}: {marker['text']}")
