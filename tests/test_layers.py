"""The CLI stays thin: library code lives outside ``ipamx_spy/commands/``, and nothing but the CLI
reaches into it. Tests, benches and scripts drive commands through ``ipamx_spy.cli.app`` and test
library code directly, so moving code out of a command never breaks them."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "ipamx_spy"
COMMANDS = "ipamx_spy.commands"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path, source: str | None = None) -> Iterator[tuple[int, str]]:
    """Every module ``path`` (or ``source`` as if it were that file) imports, relative imports
    resolved, and every string naming a command module (``import_module("ipamx_spy.commands.x")``,
    ``monkeypatch.setattr("ipamx_spy.commands...")``)."""
    text = path.read_text(encoding="utf-8") if source is None else source
    tree = ast.parse(text, filename=str(path))
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                stem = package[:len(package) - node.level + 1]
                base = ".".join([*stem, base] if base else stem)
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value.startswith(COMMANDS):
                yield node.lineno, node.value


def _reaches_commands(paths: Iterator[Path]) -> list[str]:
    return [f"{path.relative_to(ROOT)}:{line} imports {name}"
            for path in paths for line, name in _imported(path)
            if name == COMMANDS or name.startswith(COMMANDS + ".")]


def test_no_test_bench_or_script_imports_a_command_module() -> None:
    files = (p for folder in ("tests", "bench", "scripts") for p in (ROOT / folder).rglob("*.py")
             if p != Path(__file__).resolve())
    assert _reaches_commands(files) == []


def test_only_the_cli_imports_the_commands() -> None:
    library = (p for p in PACKAGE.rglob("*.py")
               if p.parent != PACKAGE / "commands" and p != PACKAGE / "cli.py")
    assert _reaches_commands(library) == []


def test_the_scan_sees_every_form_of_import() -> None:
    inside = PACKAGE / "web" / "sample.py"  # read as if it were there; nothing is written
    source = ("import ipamx_spy.commands.show\nfrom ipamx_spy.commands import mark\n"
              "from ipamx_spy import commands\nfrom ..commands.proxy import control_path\n"
              "importlib.import_module('ipamx_spy.commands.web')\nfrom ipamx_spy import places\n"
              "from ..web import server\n")
    found = {line for line, name in _imported(inside, source)
             if name == COMMANDS or name.startswith(COMMANDS + ".")}
    assert found == {1, 2, 3, 4, 5}
