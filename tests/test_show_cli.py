"""The ``show``, ``export`` and ``note`` commands, run through the typer app."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ipamx_spy import recording as rec
from ipamx_spy.cli import app
from ipamx_spy.notes import NoteError, note_record

SYNTHETIC = Path(__file__).parent / "golden" / "synthetic.jsonl"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    path = tmp_path / "talk.jsonl"
    shutil.copy(SYNTHETIC, path)
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


# -- show -----------------------------------------------------------------------------------


def test_show_draws_sections_exchanges_and_notes() -> None:
    code, out, _ = run("show", str(SYNTHETIC), "--no-validate")
    assert code == 0
    assert "docker network create (inferred)" in out and "docker rm web" in out
    assert "(no plugin calls)" in out
    for seq in range(1, 14):
        assert f"#{seq} " in out
    assert "note: --ip arrives as a plain address" in out
    assert "User-Agent" in out


def test_show_filters_and_switches() -> None:
    code, out, _ = run("show", str(SYNTHETIC), "--no-validate", "--range", "3-7",
                       "--endpoint", "RequestAddress", "--no-headers", "--no-bodies")
    assert code == 0
    assert [s for s in range(1, 14) if f"#{s} " in out] == [5, 6, 7]
    assert "User-Agent" not in out and '"PoolID"' not in out


def test_show_errors_compact_and_summary() -> None:
    code, out, _ = run("show", str(SYNTHETIC), "--no-validate", "--errors", "--compact",
                       "--summary")
    assert code == 0
    lines = [line for line in out.splitlines() if line.startswith("#")]
    assert [line.split()[0] for line in lines] == ["#7", "#9", "#10"]
    assert "summary" in out and "IpamDriver.ReleaseAddress" in out


def test_show_redacts() -> None:
    code, out, _ = run("show", str(SYNTHETIC), "--no-validate", "--redact", "Address")
    assert code == 0 and "10.4.4.21" not in out and "«redacted»" in out


@pytest.mark.parametrize("args, code, message", [
    (["--range", "7-3"], 2, "--range"),
    (["--redact", "a..b"], 2, "empty key"),
])
def test_show_refuses_bad_options(args: list[str], code: int, message: str) -> None:
    got, _, err = run("show", str(SYNTHETIC), *args)
    assert got == code and message in err


def test_show_missing_and_broken_recordings(tmp_path: Path) -> None:
    code, _, err = run("show", str(tmp_path / "nope.jsonl"))
    assert code == 2 and "nope.jsonl: no such file" in err
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"hello": 1}\n')
    code, _, err = run("show", str(broken))
    assert code == 2 and "not an ipamx-spy recording" in err


# -- export ---------------------------------------------------------------------------------


def test_export_to_stdout_and_to_a_file(tmp_path: Path) -> None:
    code, out, _ = run("export", str(SYNTHETIC), "--format", "json", "-o", "-",
                       "--no-validate")
    assert code == 0 and len(json.loads(out)["exchanges"]) == 13
    target = tmp_path / "talk.mmd"
    code, out, err = run("export", str(SYNTHETIC), "-f", "mermaid", "-o", str(target),
                         "--range", "4-5", "--no-validate")
    assert code == 0 and out == "" and "wrote" in err
    text = target.read_text()
    assert text.startswith("sequenceDiagram\n") and "#35;4 RequestPool" in text
    assert "#35;6 " not in text


def test_export_header_defaults_per_format() -> None:
    _, markdown, _ = run("export", str(SYNTHETIC), "-f", "markdown", "--no-validate")
    _, with_headers, _ = run("export", str(SYNTHETIC), "-f", "markdown", "--headers",
                             "--no-validate")
    assert "```http" not in markdown and "```http" in with_headers


def test_export_refuses_unknown_format_and_unwritable_file(tmp_path: Path) -> None:
    code, _, err = run("export", str(SYNTHETIC), "-f", "pdf")
    assert code == 2 and "markdown" in err
    code, _, err = run("export", str(SYNTHETIC), "-f", "json", "-o",
                       str(tmp_path / "missing-dir" / "x.json"), "--no-validate")
    assert code == 2 and "cannot write" in err


# -- note -----------------------------------------------------------------------------------


def test_note_appends_a_record_and_show_prints_it(copy: Path) -> None:
    before = copy.read_bytes()
    code, _, err = run("note", str(copy), "12", "the gateway goes back last")
    assert code == 0 and "note added to #12" in err
    after = copy.read_bytes()
    assert after.startswith(before)  # nothing rewritten
    record = json.loads(after.splitlines()[-1])
    assert (record["type"], record["seq"], record["text"]) == (
        "note", 12, "the gateway goes back last")
    assert rec.load(copy).notes()[12] == ["the gateway goes back last"]
    _, out, _ = run("show", str(copy), "--range", "12", "--no-validate")
    assert "note: the gateway goes back last" in out


def test_note_refuses_unknown_exchanges_and_empty_text(copy: Path) -> None:
    before = copy.read_bytes()
    code, _, err = run("note", str(copy), "99", "x")
    assert code == 2 and "no exchange #99" in err and "1 to 13" in err
    code, _, err = run("note", str(copy), "3", "  ")
    assert code == 2 and "empty" in err
    assert copy.read_bytes() == before


def test_note_record_time_and_torn_files(copy: Path) -> None:
    loaded = rec.load(copy)
    now = dt.datetime(2026, 11, 27, 10, 1, 30, tzinfo=dt.UTC)
    assert note_record(loaded, 4, " pool ", now).to_json() == {
        "type": "note", "seq": 4, "text": "pool", "t": 90.0}
    with copy.open("ab") as f:
        f.write(b'{"type":"exchange","seq":14')  # a writer killed mid-line
    with pytest.raises(NoteError, match="incomplete"):
        note_record(rec.load(copy), 4, "x", now)
