"""Options whose value may be left out (``--web`` alone means ``--web=127.0.0.1:8500``).

typer cannot declare such an option; a command class rewrites its arguments before click parses
them (``commands.web.OptionalWebCommand``).
"""

from __future__ import annotations

from collections.abc import Mapping

import typer.core


def fill_optional_values(command: typer.core.TyperCommand, args: list[str],
                         optional: Mapping[str, str]) -> list[str]:
    """``args`` with each bare ``--web`` of ``optional`` (followed by nothing or by another
    option) written as ``--web=DEFAULT``; an option's value and everything after ``--`` are
    left alone, whatever they look like."""
    takes_value = {opt for param in command.params if isinstance(param, typer.core.TyperOption)
                   and not param.is_flag and not param.count for opt in param.opts}
    out = list(args)
    index = 0
    while index < len(out):
        arg = out[index]
        if arg == "--":
            break
        following = out[index + 1] if index + 1 < len(out) else None
        if arg in optional and (following is None
                                or (following.startswith("-") and len(following) > 1)):
            out[index] = f"{arg}={optional[arg]}"
        elif arg in takes_value:
            index += 1  # its value, even one that starts with "-"
        index += 1
    return out
