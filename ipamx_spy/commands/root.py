"""The ``ipamx-spy`` typer app with every command registered (``ipamx_spy.cli`` builds it on
first use, so ``ipamx-spy --version`` imports none of this).

Each command lives in ``ipamx_spy/commands/<name>.py`` as a ``register(app)`` function that
adds its commands to the app. A command parses options, calls one library function, renders
the result, and turns library errors into ``typer.Exit(code)``. Diagnostics go to stderr so that
stdout stays machine-readable.
"""

from __future__ import annotations

import importlib

import typer

from .. import __version__

COMMAND_MODULES = (
    "proxy",
    "serve",
    "status",
    "replay",
    "mock",
    "check",
    "drive",
    "show",
    "export",
    "notes",
    "mark",
    "attach",
    "plugin",
    "web",
)

app = typer.Typer(
    name="ipamx-spy",
    help="Watch, record, replay and explain Docker libnetwork plugin traffic.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: "[default: …]" in a help text stays as written
    context_settings={"max_content_width": 100},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ipamx-spy {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Watch, record, replay and explain Docker libnetwork plugin traffic."""


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"ipamx_spy.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"ipamx_spy.commands.{name}":
                continue
            raise
        module.register(app)


_register_all()

from .helptext import use_plain_help  # noqa: E402  (after the commands registered)

use_plain_help(app)
