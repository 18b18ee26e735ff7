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


# -- the commands stay thin ------------------------------------------------------------------
#
# A command parses its options, calls one library function, renders the result and turns
# library errors into exit codes. The checks below catch the usual ways library logic creeps
# back into ``ipamx_spy/commands/``: a class of its own (a state machine, a session, a table of
# behaviour), a function that does the work itself (counted in statements, nested functions
# counted on their own), a loop that waits or polls, event-loop code, and the modules waiting,
# signalling and threads need.

MAX_STATEMENTS = 20
SYSTEM_MODULES = {"os", "signal", "time", "threading", "subprocess", "select", "fcntl",
                  "ctypes", "multiprocessing"}
# A function that may stay above the limit for a while (a command being thinned in steps) is
# named here as "path:function"; the test below fails once an entry is no longer needed.
NOT_YET_THIN: set[str] = set()


def _command_modules() -> Iterator[tuple[Path, str]]:
    for path in sorted((PACKAGE / "commands").glob("*.py")):
        yield path, path.read_text(encoding="utf-8")


def _statements(function: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Statements in ``function``'s body at any depth, except those of nested functions and
    classes (they are counted on their own)."""
    count, todo = 0, list(function.body)
    while todo:
        statement = todo.pop()
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        count += 1
        for name in ("body", "orelse", "finalbody"):
            todo += getattr(statement, name, [])
        for part in (*getattr(statement, "handlers", []), *getattr(statement, "cases", [])):
            todo += part.body
    return count


def _is_cli_class(node: ast.ClassDef, cli_classes: set[str]) -> bool:
    """A class typer or click asks for (a command or group class, or the dict of commands a
    group holds), or a record of parsed options (a dataclass with fields only)."""
    bases = [ast.unparse(base) for base in node.bases]
    if bases and all(any(word in base for word in ("typer.", "click.", *cli_classes))
                     for base in bases):
        return True
    record = any(ast.unparse(d).split("(")[0].endswith("dataclass") for d in node.decorator_list)
    return record and all(isinstance(s, ast.AnnAssign | ast.Expr) for s in node.body)


def _thinness_problems(path: Path, source: str) -> list[str]:
    """What in ``source`` (as if it were the command module ``path``) is library logic."""
    where = path.relative_to(ROOT)
    tree = ast.parse(source, filename=str(path))
    found: list[str] = []
    cli_classes = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)
                   and any(w in ast.unparse(b) for b in n.bases for w in ("typer.", "click."))}
    cli_classes |= {"PlainCommand"}  # commands/helptext.py's, the base of every command here
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and not _is_cli_class(node, cli_classes):
            found.append(f"{where}:{node.lineno} class {node.name} is library code")
        elif isinstance(node, ast.While):
            found.append(f"{where}:{node.lineno} a while loop (waiting, polling, a state "
                         "machine) belongs in the library")
        elif isinstance(node, ast.AsyncFunctionDef):
            found.append(f"{where}:{node.lineno} async def {node.name}: event-loop code "
                         "belongs in the library")
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            size = _statements(node)
            if size > MAX_STATEMENTS and f"{where}:{node.name}" not in NOT_YET_THIN:
                found.append(f"{where}:{node.lineno} {node.name} has {size} statements "
                             f"(at most {MAX_STATEMENTS}): move the work into the library")
    for line, name in _imported(path, source):
        if name.split(".")[0] in SYSTEM_MODULES:
            found.append(f"{where}:{line} imports {name}: waiting, signalling and processes belong "
                         "in the library")
    return found


def test_commands_only_parse_call_and_render() -> None:
    problems = [p for path, source in _command_modules()
                for p in _thinness_problems(path, source)]
    assert problems == []


def test_the_allowlist_holds_only_functions_that_are_still_too_big() -> None:
    sizes = {f"{path.relative_to(ROOT)}:{node.name}": _statements(node)
             for path, source in _command_modules() for node in ast.walk(ast.parse(source))
             if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)}
    assert {entry for entry in NOT_YET_THIN if sizes.get(entry, 0) <= MAX_STATEMENTS} == set()


def test_the_thinness_check_sees_library_logic() -> None:
    path = PACKAGE / "commands" / "sample.py"  # read as if it were there; nothing is written
    source = ("import time\nimport typer\n"
              "class Session:\n    def run(self) -> None: ...\n"
              "class Wide(typer.core.TyperCommand): ...\n"
              "@dataclass(frozen=True)\nclass Parsed:\n    name: str\n"
              "async def serve() -> None: ...\n"
              "def poll() -> None:\n    while True:\n        pass\n"
              "def big() -> None:\n" + "".join(f"    x{i} = {i}\n"
                                                 for i in range(MAX_STATEMENTS + 1)))
    found = _thinness_problems(path, source)
    assert {p.split(" ", 1)[1] for p in found} == {
        "class Session is library code",
        "async def serve: event-loop code belongs in the library",
        "a while loop (waiting, polling, a state machine) belongs in the library",
        f"big has {MAX_STATEMENTS + 1} statements (at most {MAX_STATEMENTS}): move the work "
        "into the library",
        "imports time: waiting, signalling and processes belong in the library",
    }
