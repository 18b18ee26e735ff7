"""``ipamx-spy web RECORDING…``: the live web view's page for recordings on disk."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import typer
import typer.core

from ..aio.server import Server
from ..console import err
from ..optional_values import fill_optional_values
from ..proxy import ProxySession
from ..recording import RecordingError
from ..redact import RedactionRuleError, parse_rules
from ..session_setup import web_beside
from .helptext import PlainCommand
from .show import REDACT_OPTION, VALIDATE_HELP, complain

if TYPE_CHECKING:
    from ..web.board import FileBoard

LISTEN_HELP = "Where to serve (loopback by default); port 0 picks a free one."


def web_socket(text: str) -> tuple[socket.socket, str]:
    """Bind the web view's socket for ``--web-listen``/``--listen``; exit 2 when it cannot."""
    from ..web import server

    try:
        host, port = server.parse_address(text)
        sock = server.bind(host, port)
    except server.ListenAddressError as exc:
        complain(f"web view: {exc}")
        raise typer.Exit(2) from None
    except OSError as exc:
        complain(f"web view: cannot listen on {text}: {exc.strerror or exc}")
        raise typer.Exit(2) from None
    return sock, server.new_token()


def announce(url: str) -> None:
    err.print(f"  web view:       [cyan]{url}[/]", soft_wrap=True, highlight=False)


WEB_DEFAULT = "127.0.0.1:8500"
WEB = typer.Option(
    None, "--web", "--web-listen", metavar="[HOST:PORT]",
    help=f"Serve the live web view, on HOST:PORT ({WEB_DEFAULT} when --web has no "
         "value; loopback by default; port 0 picks a free one).")


class OptionalWebCommand(PlainCommand):
    """A command whose ``--web`` takes an optional value (typer cannot say so itself)."""

    optional: ClassVar[Mapping[str, str]] = {"--web": WEB_DEFAULT}

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, fill_optional_values(self, args, self.optional))


def serve_beside(server: Server, session: ProxySession, header: dict[str, Any], listen: str, *,
                 validate: bool, slow_ms: float) -> None:
    """``--web``: bind now (exit 2 when the address is unusable) and start the page's process
    beside the session (``ipamx_spy.session_setup.web_beside``)."""
    sock, token = web_socket(listen)
    web_beside(server, session, header, sock, token, validate=validate, slow_ms=slow_ms,
               on_error=complain, on_url=announce)


def register(app: typer.Typer) -> None:
    @app.command()
    def web(
        recordings: list[Path] = typer.Argument(
            ..., help="Recording files; several are merged by time, one lane set per host."),
        listen: str = typer.Option("127.0.0.1:8500", "--listen", "-l", metavar="HOST:PORT",
                                   help=LISTEN_HELP),
        redact: list[str] = REDACT_OPTION,
        validate: bool = typer.Option(True, "--validate/--no-validate", help=VALIDATE_HELP),
    ) -> None:
        """Serve recordings as the live web view's page: browse, filter, read notes."""
        from ..web.server import WebView
        from ..web.view import PageMode

        source = _file_board(recordings, redact, validate)
        sock, token = web_socket(listen)
        view = WebView(source=source, sock=sock, token=token, mode=PageMode.RECORDINGS,
                       on_error=complain)
        err.print(f"[bold]ipamx-spy[/] serving {len(recordings)} recording(s); "
                  "Ctrl-C stops", highlight=False)
        announce(view.url)
        try:
            asyncio.run(view.run())
        except KeyboardInterrupt:
            pass


def _file_board(recordings: list[Path], redact: list[str], validate: bool) -> FileBoard:
    """The recordings' board, built; exit 2 for a bad ``--redact``, 1 for a recording that
    cannot be read."""
    from ..web.board import FileBoard

    try:
        rules = parse_rules(redact)
    except RedactionRuleError as exc:
        complain(str(exc))
        raise typer.Exit(2) from None
    source = FileBoard(recordings, rules=rules, validate=validate)
    try:
        source.build()
    except FileNotFoundError as exc:
        complain(f"{exc.filename}: no such recording")
        raise typer.Exit(1) from None
    except (RecordingError, OSError) as exc:
        complain(str(exc))
        raise typer.Exit(1) from None
    return source
