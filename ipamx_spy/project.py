"""Project settings: the ``[tool.ipamx-spy]`` table of a ``pyproject.toml``.

A project (a plugin's repository, its CI) writes once what every run should use::

    [tool.ipamx-spy]
    ignore-rules = ["IPX403"]        # rule switches for check, the pytest plugin
    filter = "!~e Plugin.Activate"   # only these exchanges are judged
    record-mode = "none"             # the pytest plugin's record mode
    target = "builtin"               # the plugin the pytest plugin replays against

``load`` finds the nearest ``pyproject.toml`` from a directory upwards; a file without the
table gives the defaults. Command-line options add to (rules) or override (the rest) it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TABLE = "ipamx-spy"
KEYS = ("ignore-rules", "filter", "record-mode", "target")


class ProjectError(ValueError):
    """A ``[tool.ipamx-spy]`` table that cannot be used; the message names file and key."""


@dataclass(frozen=True, kw_only=True)
class Project:
    path: Path | None = None
    ignore_rules: tuple[str, ...] = ()
    filter: str | None = None
    record_mode: str | None = None
    target: str | None = None


def find(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` at or above ``start``."""
    for directory in (start.resolve(), *start.resolve().parents):
        candidate = directory / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def _string(path: Path, table: dict[str, Any], key: str) -> str | None:
    value = table.get(key)
    if value is not None and not isinstance(value, str):
        raise ProjectError(f"{path}: [tool.{TABLE}] {key} must be a string")
    return value


def parse(path: Path, text: str) -> Project:
    """The settings in a pyproject text. Raises ProjectError for bad TOML or a bad key."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProjectError(f"{path}: not valid TOML ({exc})") from None
    table = data.get("tool", {}).get(TABLE, {})
    if not isinstance(table, dict):
        raise ProjectError(f"{path}: [tool.{TABLE}] must be a table")
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise ProjectError(f"{path}: [tool.{TABLE}] has unknown key {unknown[0]!r} "
                           f"(known: {', '.join(KEYS)})")
    rules = table.get("ignore-rules", [])
    if isinstance(rules, str):
        rules = [rules]
    if not isinstance(rules, list) or not all(isinstance(r, str) for r in rules):
        raise ProjectError(f"{path}: [tool.{TABLE}] ignore-rules must be a list of codes")
    return Project(path=path, ignore_rules=tuple(rules), filter=_string(path, table, "filter"),
                   record_mode=_string(path, table, "record-mode"),
                   target=_string(path, table, "target"))


def load(start: Path | None = None) -> Project:
    """The settings of the project around ``start`` (default: the working directory)."""
    path = find(start or Path.cwd())
    if path is None:
        return Project()
    return parse(path, path.read_text(encoding="utf-8"))
