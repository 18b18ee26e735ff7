"""The ``ipamx-spy`` typer app. ``ipamx_spy.cli`` builds it on first use, so ``ipamx-spy
--version`` imports none of this.

Commands are imported when they run, not when the app starts: ``COMMANDS`` names each
command's module and the first paragraph of its help, which is all ``ipamx-spy --help`` shows
(``tests/test_cli_help.py`` checks the table against the commands themselves). A command module
registers its commands with ``register(app)`` on a scratch app of the same settings, and
``cli_coercion.install`` gives their plain parameters a coercion that needs no pydantic.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import KeysView
from typing import Any

import typer
import typer.core
import typer.main
from typer import _click as click  # the click typer's classes are built on (vendored)

from .. import __version__

# name -> (module under ipamx_spy.commands, first paragraph of its help), in --help's order
COMMANDS: dict[str, tuple[str, str]] = {
    "proxy": ("proxy", "Sit between dockerd and a plugin: relay, record and explain every "
                       "exchange."),
    "serve": ("serve", "Run the built-in reference plugin on its own, without recording."),
    "status": ("status", "Show the built-in plugin's pools, allocations and configuration."),
    "replay": ("replay", "Replay recordings against a plugin and check every answer against "
                         "the recorded one."),
    "mock": ("mock", "Answer dockerd with the answers of a recording, as the recorded plugin "
                     "did."),
    "check": ("check", "Validate recordings: every exchange against the protocol, and the "
                       "whole session."),
    "drive": ("drive", "Play a scenario of docker commands against a plugin, sending exactly "
                       "what dockerd\nsends, and print what the docker command would have "
                       "printed."),
    "show": ("show", "Show a recording (or several hosts' merged): commands, exchanges, notes, "
                     "findings."),
    "mitm-addon": ("export", 'Print the path of the mitmproxy addon: mitmweb -s "$(ipamx-spy '
                             'mitm-addon)" -r F.mitm'),
    "export": ("export", "Export a recording for docs, slides, browsers, mitmproxy or "
                         "scripts."),
    "note": ("notes", "Attach a note to exchange N of a recording (appended; nothing is "
                      "rewritten)."),
    "mark": ("mark", "Insert a marker into the live recording of a running `ipamx-spy "
                     "proxy`."),
    "attach": ("attach", "Put the spy in front of a running plugin without restarting it; "
                         "undo it on exit."),
    "detach": ("attach", "Undo `ipamx-spy attach NAME`: stop the spy if it runs, or restore "
                         "after a crash."),
    "web": ("web", "Serve recordings as the live web view's page: browse, filter, read "
                   "notes."),
    "plugin": ("plugin", "ipamx-spy as a Docker managed plugin."),
}

SETTINGS: dict[str, Any] = {
    "add_completion": False,
    "pretty_exceptions_enable": False,
    "rich_markup_mode": None,  # plain help: "[default: …]" in a help text stays as written
}


@functools.cache
def module_commands(module: str) -> dict[str, click.Command]:
    """The click commands a command module registers (imported now, once)."""
    from .helptext import use_plain_help

    try:
        loaded = importlib.import_module(f"ipamx_spy.commands.{module}")
    except ModuleNotFoundError as exc:
        if exc.name == f"ipamx_spy.commands.{module}":
            return {}
        raise
    scratch = typer.Typer(**SETTINGS)
    loaded.register(scratch)
    use_plain_help(scratch)
    group = typer.main.get_group(scratch)
    plain_coercion(group)
    return dict(group.commands)


def plain_coercion(command: click.Command) -> None:
    """Values coerced without pydantic where the type is plain (``ipamx_spy/cli_coercion.py``);
    a typer whose private coercion names differ keeps its own."""
    try:
        from ..cli_coercion import install
    except ImportError:
        return
    install(command)


class LazyCommands(dict[str, click.Command]):
    """``group.commands``, filled by importing a command's module when it is first asked for."""

    def keys(self) -> KeysView[str]:  # type: ignore[override]  # "Did you mean …?" sees all
        return KeysView(dict.fromkeys(COMMANDS))

    def __missing__(self, name: str) -> click.Command:
        if name in COMMANDS:
            found = module_commands(COMMANDS[name][0])
            if name in found:
                self[name] = found[name]
                return found[name]
        raise KeyError(name)


class LazyGroup(typer.core.TyperGroup):
    """The top-level group: lists the table, imports a command only to run or describe it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands = LazyCommands(self.commands)
        plain_coercion(self)  # --version and --help

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        try:
            return self.commands[cmd_name]
        except KeyError:
            return None

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        limit = formatter.width - 6 - max(len(name) for name in COMMANDS)
        rows = [(name, click.utils.make_default_short_help(text, limit))
                for name, (_, text) in COMMANDS.items()]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


app = typer.Typer(
    name="ipamx-spy",
    help="Watch, record, replay and explain Docker libnetwork plugin traffic.",
    no_args_is_help=True,
    cls=LazyGroup,
    context_settings={"max_content_width": 100},
    **SETTINGS,
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
