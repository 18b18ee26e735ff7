"""Help that a person reads: plain click help (no rich boxes), with metavars that say what
to type (``PATH``, ``NAME``, ``SECONDS``, ``ADDR``) instead of Python types.

``PlainCommand`` is the command class of every ``ipamx-spy`` command (``root.py`` sets it): an
option without an explicit metavar gets one from ``METAVARS`` (by option name) or from its
own name, and usage lines show arguments as ``RECORDING`` / ``[RECORDINGS]...``.
"""

from __future__ import annotations

from typing import Any

import typer.core

METAVARS: dict[str, str] = {
    "--name": "NAME", "--listen": "PATH", "--record": "PATH", "--control": "PATH",
    "--state": "PATH", "--output": "PATH", "--junit": "PATH", "--against": "PATH",
    "--compare": "PATH", "--exec-root": "PATH",
    "--upstream": "ADDR", "--target": "ADDR", "--docker-host": "ADDR",
    "--upstream-timeout": "SECONDS", "--drain-timeout": "SECONDS", "--timeout": "SECONDS",
    "--local-pool": "BASE:SIZE", "--global-pool": "BASE:SIZE", "--exclude": "CIDR",
    "--docker-compat": "VERSION", "--docker-version": "VERSION", "--format": "FORMAT",
    "--range": "RANGE", "--endpoint": "TEXT", "--redact": "PATH", "--ignore": "PATH",
    "--engine-id": "ID", "--seed": "N", "--width": "COLUMNS", "--min-severity": "LEVEL",
    "--slow-ms": "MS", "--max-body": "BYTES", "--socket-mode": "MODE", "--filter": "FILTER",
    "--ignore-rule": "CODE", "--fault": "FAULT", "--local-space": "NAME",
    "--global-space": "NAME",
}


def _metavar(param: Any) -> str:
    longest = max(param.opts, key=len)
    if longest in METAVARS:
        return METAVARS[longest]
    descriptor = getattr(param, "type_descriptor", None)
    choices = getattr(descriptor, "choices", None) if getattr(descriptor, "is_choice", False) \
        else None
    if choices:
        return "|".join(str(getattr(c, "value", c)) for c in choices)
    return str(param.name).upper().replace("_", "-").strip("-")


class PlainCommand(typer.core.TyperCommand):
    """A typer command whose help names values the way a person types them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            if isinstance(param, typer.core.TyperArgument):
                # the Arguments section shows the name alone, not "<path>" after it
                param.display_type_rich = lambda ctx: None  # type: ignore[method-assign]
            if param.metavar is not None or getattr(param, "is_flag", False):
                continue
            if isinstance(param, typer.core.TyperArgument):
                param.metavar = str(param.name).upper().strip("_")
            elif param.opts and param.opts[0].startswith("-"):
                param.metavar = _metavar(param)

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = [self.options_metavar] if self.options_metavar else []
        for param in self.get_params(ctx):
            if isinstance(param, typer.core.TyperArgument):
                name = str(param.metavar or param.name).upper()
                name = name if param.required else f"[{name}]"
                pieces.append(name + ("..." if param.nargs != 1 else ""))
        return pieces


def use_plain_help(app: typer.Typer) -> None:
    """Make every registered command of ``app`` (and of its groups) a ``PlainCommand``."""
    for info in app.registered_commands:
        if info.cls in (None, typer.core.TyperCommand):
            info.cls = PlainCommand
    for group in app.registered_groups:
        if group.typer_instance is not None:
            use_plain_help(group.typer_instance)
