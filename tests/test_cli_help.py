"""Help that a person reads: a golden ``--help`` at 80 columns for every command, defaults
visible, metavars that say what to type, usage lines without braces.

After changing an option on purpose, regenerate the golden files with
``IPAMX_SPY_UPDATE_GOLDEN=1 python3 -m pytest tests/test_cli_help.py`` and read the diff.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ipamx_spy import __version__
from ipamx_spy.cli import app

GOLDEN = Path(__file__).parent / "golden" / "help"
README = Path(__file__).parent.parent / "README.md"
COMMANDS = ("proxy", "serve", "status", "replay", "mock", "check", "drive", "show", "export",
            "note", "mark", "attach", "detach", "plugin", "plugin build", "web", "mitm-addon")


def help_text(command: str) -> str:
    result = CliRunner().invoke(app, [*command.split(), "--help"], prog_name="ipamx-spy",
                                terminal_width=80)
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_help_at_80_columns_matches_the_golden_file(command: str) -> None:
    text = help_text(command)
    golden = GOLDEN / (command.replace(" ", "-") + ".txt")
    if os.environ.get("IPAMX_SPY_UPDATE_GOLDEN"):
        golden.write_text(text, encoding="utf-8")
    assert golden.exists(), f"no golden help for {command}: run with IPAMX_SPY_UPDATE_GOLDEN=1"
    assert text == golden.read_text(encoding="utf-8"), (
        f"`ipamx-spy {command} --help` changed: if on purpose, regenerate with "
        "IPAMX_SPY_UPDATE_GOLDEN=1 and read the diff")


@pytest.mark.parametrize("command", COMMANDS)
def test_help_is_legible(command: str) -> None:
    text = help_text(command)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert not re.search(r"<(bool|str|path|int|float|list\[\w+\]|[\w ]+ range)>", text)
    assert "{" not in text.splitlines()[0]  # usage line: RECORDING, not {RECORDING}
    assert " ." not in text.replace("...", "")  # a swallowed "[default: …]" left "on ."
    assert "…" not in text  # no option name cut short


def test_defaults_written_in_help_texts_stay_visible() -> None:
    text = " ".join(help_text("proxy").split())
    for shown in ("--listen PATH", "--upstream ADDR", "--upstream-timeout SECONDS",
                  "--name NAME", "[default: ipamx]", "[default: none, as dockerd]",
                  "[default: /run/docker/plugins/NAME.sock]", "--on-record-error continue|refuse"):
        assert shown in text


def test_every_readme_note_example_runs(tmp_path: Path) -> None:
    lines = [line for line in README.read_text(encoding="utf-8").splitlines()
             if line.startswith("ipamx-spy note ")]
    assert lines
    for line in lines:
        words = shlex.split(line)
        copy = tmp_path / Path(words[2]).name
        shutil.copy(README.parent / words[2], copy)
        result = CliRunner().invoke(app, [words[1], str(copy), *words[3:]])
        assert result.exit_code == 0, f"{line}: {result.output}"
        assert words[-1] in copy.read_text(encoding="utf-8")


def test_version_answers_before_typer_and_the_commands_are_imported() -> None:
    import subprocess
    import sys

    probe = ("import sys; sys.argv = ['ipamx-spy', '--version']\n"
             "from ipamx_spy.cli import main\n"
             "main()\n"
             "print(sorted(m for m in sys.modules if m in {'typer', 'rich', 'click'}"
             " or m.startswith('ipamx_spy.commands')))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert out.splitlines() == [f"ipamx-spy {__version__}", "[]"]


def test_top_level_help_imports_no_command_and_lists_what_the_commands_say() -> None:
    import subprocess
    import sys

    import typer.core
    import typer.main
    from typer import _click as click

    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    ctx = click.Context(group, info_name="ipamx-spy", terminal_width=80)
    table, loaded = click.HelpFormatter(width=80), click.HelpFormatter(width=80)
    group.format_commands(ctx, table)  # from the table: no command imported
    typer.core.TyperGroup.format_commands(group, ctx, loaded)  # each command's own help
    assert table.getvalue() == loaded.getvalue() and "  proxy " in table.getvalue()
    probe = ("import sys; sys.argv = ['ipamx-spy', '--help']\n"
             "from ipamx_spy.cli import main\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in sys.modules if m.startswith('ipamx_spy.commands.')))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert "  proxy       Sit between dockerd and a plugin" in out
    assert out.splitlines()[-1] == "['ipamx_spy.commands.root']"
