"""The commands' values coerced without pydantic (ipamx_spy/cli_coercion.py) are typer's:
every parameter of every command given a table of raw values, and whole invocations, come out
the same through typer's own coercion and through ours; and a command run leaves pydantic
unimported."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any, Literal

import pytest
import typer
from typer import _click as click
from typer.core import _TyperParameter
from typer.testing import CliRunner

from ipamx_spy import cli_coercion as coercion
from ipamx_spy.cli import app

TALK = Path(__file__).parent.parent / "recordings" / "talk.jsonl"

RAW: list[Any] = [
    None, "", "abc", "5", "-1", "0", "-0", "007", "1.5", "-2.25", "0.0001", "1e3", " 5", "5 ",
    "1_000", "+5", "inf", "nan", "-inf", "99999999999999999999999", "3.", ".5",
    "\udcff", "caf\u00e9", "a\x00b", "a//b/", "-", ".", "continue", "CONTINUE", "maybe", "file",
    "etcd://", "etcd://127.0.0.1:2379", "IPX101", "info", "Plugin.Activate", "1-3",
    ("a", "b"), ("5", "x"), ("1", "2"), (), [], ["x"], 5, -1, 0, 40, 39, 5.0, 0.5, True, False,
    Path("x/y"), b"bytes",
]


def all_commands() -> Iterator[tuple[str, click.Command]]:
    """Every command of the app, as a run builds it (with the plain coercion installed)."""
    group = typer.main.get_command(app)
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        yield from walk(name, command)


def walk(name: str, command: click.Command) -> Iterator[tuple[str, click.Command]]:
    yield name, command
    for sub_name, sub in getattr(command, "commands", {}).items():
        yield from walk(f"{name} {sub_name}", sub)


def params_of(command: click.Command) -> list[_TyperParameter]:
    helper = command.get_help_option(click.Context(command))
    return [p for p in [*command.params, helper] if isinstance(p, _TyperParameter)]


def outcome(param: _TyperParameter, ctx: click.Context, value: Any) -> tuple[Any, ...]:
    try:
        done = param.get_runtime_param().coerce(value, param=param, ctx=ctx)
    except click.ClickException as exc:
        return ("error", type(exc), exc.format_message())
    except Exception as exc:  # what typer lets through, ours must let through alike
        return ("raised", type(exc), str(exc))
    if isinstance(done, (list, tuple)):  # by repr: nan is nan
        return ("value", type(done), [(type(item), repr(item)) for item in done])
    return ("value", type(done), repr(done))


def use(command: click.Command, plain: bool) -> None:
    """typer's own coercion (built afresh), or ours over it."""
    coercion.uninstall(command)
    if plain:
        coercion.install(command)
        assert all(type(p._runtime_param) is coercion.PlainRuntimeParam
                   for p in params_of(command))


def outcomes(commands: list[tuple[str, click.Command]], plain: bool) -> dict[Any, Any]:
    seen = {}
    for name, command in commands:
        use(command, plain)
        ctx = click.Context(command)
        for param in params_of(command):
            for index, value in enumerate([*RAW, param.default]):
                seen[name, param.name, index] = outcome(param, ctx, value)
    return seen


@pytest.fixture
def restored() -> Iterator[None]:
    yield
    for _, command in all_commands():
        use(command, plain=True)


def test_every_parameter_coerces_as_typer_does(restored: None) -> None:
    commands = list(all_commands())
    theirs = outcomes(commands, plain=False)
    ours = outcomes(commands, plain=True)
    assert ours.keys() == theirs.keys()
    differ = {key: (ours[key], theirs[key]) for key in ours if ours[key] != theirs[key]}
    assert differ == {}
    # the table reaches the errors that matter: typer words them (pydantic's messages)
    errors = {theirs[key][2] for key in theirs if theirs[key][0] == "error"}
    assert any("valid integer" in e for e in errors) and any("valid number" in e for e in errors)
    assert any("greater than or equal to" in e for e in errors)
    assert any("is not one of" in e for e in errors)


KINDS = """\
import json, sys
sys.path.insert(0, sys.argv[1])
import test_cli_coercion as t
kinds = {(repr(p.type_descriptor.annotation), type(p._runtime_param).__name__)
         for _, command in t.all_commands() for p in t.params_of(command)}
print(json.dumps(sorted(kinds)))
"""


def test_the_plain_coercion_is_installed_where_the_type_is_plain() -> None:
    """In a fresh process: as a run builds the commands, not as another test left them."""
    done = subprocess.run([sys.executable, "-c", KINDS, str(Path(__file__).parent)],
                          capture_output=True, text=True, timeout=120, check=True)
    kinds = json.loads(done.stdout)  # [annotation's repr, runtime param's class] pairs
    assert {kind for _, kind in kinds} == {"PlainRuntimeParam"}, kinds
    assert {"<class 'str'>", "<class 'int'>", "<class 'float'>", "<class 'bool'>",
            "<class 'pathlib.Path'>", "list[str]", "list[pathlib.Path]"} <= {a for a, _ in kinds}


class Colour(Enum):
    RED = "red"
    DARK = "Dark"


def test_other_types_compare_too() -> None:
    """Types the commands do not use today, so the table meets them too."""
    probe = typer.Typer()

    @probe.command()
    def run(colour: Colour = Colour.RED,
            colours: list[Colour] | None = typer.Option(None),
            insensitive: Colour = typer.Option(Colour.RED, case_sensitive=False),
            mode: Literal["a", "b"] = "a",
            low: float = typer.Option(1.0, min=0.5, max=9),
            clamped: int = typer.Option(3, min=1, max=5, clamp=True),
            size: int | None = None,
            where: Path = typer.Option(Path("."), exists=True, dir_okay=False),
            named: str | None = typer.Option(None, parser=str.upper)) -> None:
        """Probe."""

    command = typer.main.get_command(probe)
    theirs = outcomes([("run", command)], plain=False)
    ours = outcomes([("run", command)], plain=True)
    assert {k: (ours[k], theirs[k]) for k in ours if ours[k] != theirs[k]} == {}
    assert {type(p.get_runtime_param()) for p in params_of(command)} == {
        coercion.PlainRuntimeParam}


INVOCATIONS: list[list[str]] = [
    ["check", str(TALK)],
    ["check", "--slow-ms", "abc", str(TALK)],
    ["check", "--slow-ms", "2.5", "--min-severity", "warning", str(TALK)],
    ["check", "--min-severity", "bogus", str(TALK)],
    ["check", "--filter", "~c", str(TALK)],
    ["check", "--ignore-rule", "IPX999", str(TALK)],
    ["show", str(TALK), "--compact"],
    ["show", str(TALK), "--range", "1-3", "--endpoint", "Plugin.Activate"],
    ["show"],
    ["replay", "--timeout", "abc", str(TALK)],
    ["replay", "--timeout", "0", str(TALK)],
    ["replay", str(TALK)],
    ["replay", "-q", "--timeout", "5", str(TALK)],
    ["export", str(TALK)],
    ["export", "-f", "json", str(TALK)],
    ["export", "-f", "svg", "--width", "10", str(TALK)],
    ["export", "-f", "svg", "--width", "x", str(TALK)],
    ["export", "-f", "nope", str(TALK)],
    ["note", "{copy}", "abc", "text"],
    ["note", "{copy}", "2", "a note"],
    ["note", "{copy}"],
    ["proxy", "--on-record-error", "maybe"],
    ["proxy", "--max-body", "abc"],
    ["proxy", "--store", "etcd://"],
    ["serve", "--header-timeout", "x"],
    ["nosuch"],
    ["--help"],
    ["check", "--help"],
]


def invoke(argv: list[str], copy: Path) -> tuple[Any, ...]:
    copy.write_bytes(TALK.read_bytes())
    args = [a.replace("{copy}", str(copy)) for a in argv]
    result = CliRunner().invoke(app, args, env={"COLUMNS": "100", "NO_COLOR": "1"})
    added = copy.read_bytes().removeprefix(TALK.read_bytes())  # a note: its time aside
    return (result.exit_code, result.stdout, result.stderr, type(result.exception),
            re.sub(rb'"t":[0-9.]+', b'"t":T', added))


def test_invocations_end_as_with_typers_coercion(restored: None, tmp_path: Path) -> None:
    copy = tmp_path / "talk.jsonl"
    commands = list(all_commands())
    seen = {}
    for plain in (False, True):
        for _, command in commands:
            use(command, plain)
        seen[plain] = [invoke(argv, copy) for argv in INVOCATIONS]
    for argv, theirs, ours in zip(INVOCATIONS, seen[False], seen[True], strict=True):
        assert ours == theirs, argv
    codes = [code for code, *_ in seen[True]]
    assert 0 in codes and 2 in codes  # good and bad values both met


RUN = """\
import json, runpy, sys
sys.argv = ["ipamx-spy", *sys.argv[1:]]
try:
    runpy.run_module("ipamx_spy", run_name="__main__")
except SystemExit as exc:
    code = exc.code
print(json.dumps({"code": code, "pydantic": "pydantic" in sys.modules}), file=sys.stderr)
"""


@pytest.mark.parametrize("argv", [["replay", "-q", "--timeout", "5", str(TALK)],
                                  ["check", "--slow-ms", "10", str(TALK)],
                                  ["show", "--compact", "--range", "1-2", str(TALK)],
                                  ["export", "-f", "json", "--width", "60", str(TALK)],
                                  ["proxy", "--help"]])
def test_a_command_run_imports_no_pydantic(argv: list[str]) -> None:
    done = subprocess.run([sys.executable, "-c", RUN, *argv], capture_output=True, text=True,
                          timeout=120)
    ran = json.loads(done.stderr.splitlines()[-1])
    assert ran["code"] in (0, None, 1), done.stderr
    assert ran["pydantic"] is False


def test_a_bad_value_still_gets_typers_words() -> None:
    done = subprocess.run([sys.executable, "-c", RUN, "check", "--slow-ms", "abc", str(TALK)],
                          capture_output=True, text=True, timeout=120)
    assert json.loads(done.stderr.splitlines()[-1]) == {"code": 2, "pydantic": True}
    assert "Input should be a valid number" in done.stderr
