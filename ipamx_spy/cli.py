"""The ``ipamx-spy`` command: a thin typer front-end over the library.

Each command lives in ``ipamx_spy/commands/<name>.py`` as a ``register(app)`` function that
adds its commands to the app (``ipamx_spy/commands/root.py`` registers them all). A command
parses options, calls one library function, renders the result, and turns library errors into
``typer.Exit(code)``. Diagnostics go to stderr so that stdout stays machine-readable.

``ipamx-spy --version`` answers before typer and the commands are imported (they take most of
a start: ``bench/cli_start.py``); ``app`` is built on first use.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from . import __version__

if TYPE_CHECKING:
    import typer

    app: typer.Typer


def __getattr__(name: str) -> object:
    if name == "app":
        from .commands.root import app as built

        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    if sys.argv[1:] == ["--version"]:
        print(f"ipamx-spy {__version__}")
        return
    from .commands.root import app as built

    built()
