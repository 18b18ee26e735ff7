"""``ipamx-spy mark TEXT``: insert a marker into a running proxy's recording and live view."""

from __future__ import annotations

from pathlib import Path

import typer

from ..console import err, out
from ..control import send_control
from ..places import control_path


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
