"""The validator over whole recordings: the broken corpus, the real captures, ``check``."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ipamx_spy.cli import app
from ipamx_spy.recording import load
from ipamx_spy.validate import RULES, check_recording

ROOT = Path(__file__).resolve().parent.parent
BROKEN = sorted((ROOT / "tests" / "broken").glob("*.jsonl"))
CLEAN = sorted((ROOT / "recordings").rglob("*.jsonl")) + sorted(
    (ROOT / "scenarios" / "captures").rglob("*.jsonl"))  # every daemon's
runner = CliRunner()


def test_the_corpora_are_there() -> None:
    assert len(BROKEN) >= 15 and len(CLEAN) >= 8


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.stem)
def test_broken_corpus_finds_what_was_planted(path: Path) -> None:
    rec = load(path)
    found = Counter(f.code for f in check_recording(rec))
    assert found == Counter(rec.header["expected_findings"])


def test_broken_corpus_plants_every_answer_and_session_error() -> None:
    planted = {code for path in BROKEN for code in load(path).header["expected_findings"]}
    errors = {code for code, rule in RULES.items() if rule.severity == "error"}
    missing = errors - planted - {"IPX210", "IPX212"}  # covered by test_validate_rules only
    assert not missing


@pytest.mark.parametrize("path", CLEAN, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_real_captures_have_no_errors(path: Path) -> None:
    errors = [f for f in check_recording(load(path)) if f.severity == "error"]
    assert errors == []


def test_check_exit_codes() -> None:
    assert runner.invoke(app, ["check", str(ROOT / "scenarios" / "captures")]).exit_code == 0
    broken = runner.invoke(app, ["check", str(ROOT / "tests" / "broken" / "empty-200.jsonl")])
    assert broken.exit_code == 1
    assert "IPX102" in broken.output and "EOF" in broken.output
    warning_only = runner.invoke(app, ["check", str(ROOT / "tests/broken/slow-answer.jsonl")])
    assert warning_only.exit_code == 0 and "IPX401" in warning_only.output


def test_check_reports_unreadable_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not a recording\n")
    result = runner.invoke(app, ["check", str(bad)])
    assert result.exit_code == 2


def test_check_json_output() -> None:
    result = runner.invoke(app, ["check", "--json", str(ROOT / "tests/broken/plugin-errors.jsonl"),
                                 "--min-severity", "error"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    [entry] = report["recordings"]
    assert {f["code"] for f in entry["findings"]} == {"IPX102", "IPX103", "IPX106", "IPX107",
                                                       "IPX201"}
    assert all(f["endpoint"] for f in entry["findings"])
    assert report["summary"]["error"] == 5 and report["summary"]["info"] == 0


def test_check_lists_the_codes() -> None:
    result = runner.invoke(app, ["check", "--codes"])
    assert result.exit_code == 0
    assert all(code in result.output for code in RULES)


def test_every_code_is_documented() -> None:
    text = (ROOT / "docs" / "validation.md").read_text()
    documented = set(re.findall(r"IPX\d{3}", text))
    assert documented >= set(RULES)
