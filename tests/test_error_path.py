"""One error path for every command (issue 15 item 4): the same words, the file named once,
exit 0 all well, 1 findings or differences, 2 unusable input, options or environment."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ipamx_spy.cli import app

SYNTHETIC = Path(__file__).parent / "golden" / "synthetic.jsonl"

READERS: dict[str, Callable[[str], list[str]]] = {
    "show": lambda p: ["show", p, "--no-validate"],
    "export": lambda p: ["export", p, "-f", "json", "--no-validate"],
    "export-svg": lambda p: ["export", p, "-f", "svg", "--no-validate"],
    "note": lambda p: ["note", p, "3", "a note"],
    "check": lambda p: ["check", p],
    "replay": lambda p: ["replay", p, "-q"],
    "mock": lambda p: ["mock", p, "--listen", "/nonexistent-dir/x.sock", "--no-record", "-q"],
}


def run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, args)
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit), f"traceback: {result.exception!r}"
    return result.exit_code, result.stdout + result.stderr


def bad_inputs(tmp: Path) -> dict[str, tuple[Path, str]]:
    directory = tmp / "somedir"
    directory.mkdir()
    (directory / "notes.txt").write_text("x")
    other = tmp / "other.jsonl"
    other.write_text('{"some": "log"}\n')
    empty = tmp / "empty.jsonl"
    empty.write_bytes(b"")
    cut_header = tmp / "cut.jsonl"
    cut_header.write_bytes(SYNTHETIC.read_bytes()[:40])
    return {
        "missing": (tmp / "missing.jsonl", "missing.jsonl: no such file"),
        "non-recording": (other, "other.jsonl: not an ipamx-spy recording"),
        "empty": (empty, "empty.jsonl: the file is empty"),
        "truncated header": (cut_header, "cut.jsonl: the header line is incomplete"),
        "directory": (directory, "somedir"),
    }


@pytest.mark.parametrize("command", sorted(READERS))
@pytest.mark.parametrize("case", ["missing", "non-recording", "empty", "truncated header",
                                  "directory"])
def test_every_reader_says_the_same_thing_and_exits_2(tmp_path: Path, command: str,
                                                       case: str) -> None:
    path, message = bad_inputs(tmp_path)[case]
    code, output = run(READERS[command](str(path)))
    assert code == 2, output
    assert message in output, output
    if case == "directory":
        expected = ("a directory without recordings" if command in {"check", "replay"}
                    else "is a directory, not a recording file")
        assert expected in output, output
    assert output.count(path.name) == 1, output  # the file is named once
    assert "Traceback" not in output and "[Errno" not in output


@pytest.mark.parametrize("command", ["show", "export", "export-svg", "check", "replay"])
def test_a_torn_tail_is_a_warning_naming_the_line(tmp_path: Path, command: str) -> None:
    data = SYNTHETIC.read_bytes()
    lines = data.splitlines(keepends=True)
    torn = tmp_path / "torn.jsonl"
    torn.write_bytes(b"".join(lines[:-3]) + lines[-3][:25])
    code, output = run(READERS[command](str(torn)))
    assert code in {0, 1}, output
    assert f"warning: {torn}:{len(lines) - 2}: incomplete last record" in output, output


def test_check_and_replay_take_a_directory(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_bytes(SYNTHETIC.read_bytes())
    code, output = run(["replay", str(tmp_path), "-q"])
    assert code == 0 and "a.jsonl: 12 passed" in output, output
    code, output = run(["check", str(tmp_path)])
    assert code == 1 and "a.jsonl: 13" in output and "IPX402" in output, output


def test_an_empty_range_is_an_error() -> None:
    code, output = run(["export", str(SYNTHETIC), "-f", "svg", "-r", "99-100",
                        "--no-validate"])
    assert code == 2 and "--range selects no exchange" in output and "1 to 13" in output


@pytest.mark.parametrize("args, message", [
    (["--upstream-timeout", "-1"], "--upstream-timeout -1: give a positive number"),
    (["--compact", "--json"], "--compact and --json cannot be combined"),
    (["--on-record-error", "maybe"], "'maybe' is not one of 'continue', 'refuse'"),
])
def test_proxy_refuses_impossible_options(tmp_path: Path, args: list[str],
                                          message: str) -> None:
    code, output = run(["proxy", "--name", "x", "--listen", str(tmp_path / "x.sock"),
                        "--no-record", "--state", "none", *args])
    assert code == 2 and message in output, output


def test_a_second_proxy_for_a_name_in_use(tmp_path: Path) -> None:
    state = tmp_path / "x.state.json"
    fd = os.open(f"{state}.journal", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        code, output = run(["proxy", "--name", "busy", "--listen", str(tmp_path / "x.sock"),
                            "--no-record", "-q", "--state", str(state)])
    finally:
        os.close(fd)
    assert code == 2 and "another ipamx-spy serves busy" in output, output
    assert "journal" not in output


def test_without_permission_a_hint_instead_of_errno(tmp_path: Path) -> None:
    from ipamx_spy.builtin import plugin_start_problem

    problem = PermissionError(13, "Permission denied", "/var/lib/ipamx-spy/x.state.json.journal")
    text = plugin_start_problem("x", problem)
    assert "[Errno" not in text and "run as root" in text and "--state" in text


def test_unwritable_recording_paths_are_clear(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("keep")
    link = tmp_path / "r.jsonl"
    link.symlink_to(victim)
    for record, message in ((link, "is a symbolic link"),
                            (tmp_path / "no" / "r.jsonl", "does not exist")):
        code, output = run(["proxy", "--name", "x", "--listen", str(tmp_path / "x.sock"),
                            "-q", "--state", "none", "--record", str(record)])
        assert code == 2 and message in output, output
    assert victim.read_text() == "keep"


def test_drive_defaults_to_the_builtin_target(tmp_path: Path) -> None:
    scenario = tmp_path / "s.txt"
    scenario.write_text("docker network create --driver bridge --ipam-driver ipamx n1\n")
    code, output = run(["drive", str(scenario)])
    assert code == 0 and "give --target" not in output, output
