"""``ipamx-spy replay``: exit codes, the readable report, --json and --junit."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from brokenplugin import make_app, serve
from typer.testing import CliRunner

from ipamx_spy.cli import app
from ipamx_spy.recording import load
from ipamx_spy.replay import report
from ipamx_spy.replay.compare import Rules
from ipamx_spy.replay.engine import replay_recording
from ipamx_spy.replay.target import TargetSpec

GOLDEN = str(Path(__file__).parent / "golden" / "synthetic.jsonl")
runner = CliRunner()


def test_conforming_builtin_exits_0() -> None:
    result = runner.invoke(app, ["replay", GOLDEN])
    assert result.exit_code == 0, result.output
    assert "synthetic.jsonl: 12 passed, 0 failed, 1 skipped" in result.output


def test_mismatch_exits_1_with_the_readable_account(sockdir: Path) -> None:
    with serve(sockdir / "p.sock", "wrong-address"):
        result = runner.invoke(app, ["replay", GOLDEN, "--target", str(sockdir / "p.sock")])
    assert result.exit_code == 1, result.output
    assert "✗ #6 IpamDriver.RequestAddress (connection c1)" in result.output
    assert "meaning: received request for one IP address from pool" in result.output
    assert 'Address: the recording has "10.4.4.21/24", the plugin answered "10.4.4.22/24"' \
        in result.output
    assert '-  "Address": "10.4.4.21/24",' in result.output
    assert '+  "Address": "10.4.4.22/24",' in result.output


def test_ignore_lets_a_known_difference_pass(sockdir: Path) -> None:
    with serve(sockdir / "p.sock", "wrong-address"):
        result = runner.invoke(app, ["replay", GOLDEN, "--target", str(sockdir / "p.sock"),
                                     "--ignore", "IpamDriver.RequestAddress:Address", "-q"])
    assert result.exit_code == 1  # #7 then differs: the plugin never gave 10.4.4.21 away
    assert "#6 IpamDriver" not in result.output and "✗ #7" in result.output


def test_short_timeout_names_the_stall(sockdir: Path) -> None:
    with serve(sockdir / "p.sock", "stall"):
        result = runner.invoke(app, ["replay", GOLDEN, "--target", str(sockdir / "p.sock"),
                                     "--timeout", "0.2", "-q"])
    assert result.exit_code == 1
    assert "no answer within 0.2 s (--timeout)" in result.output


def test_unusable_target_and_recording_exit_2(sockdir: Path, tmp_path: Path) -> None:
    dead = runner.invoke(app, ["replay", GOLDEN, "--target", str(sockdir / "none.sock")])
    assert dead.exit_code == 2
    assert "none.sock" in dead.output
    missing = runner.invoke(app, ["replay", str(tmp_path / "gone.jsonl"), GOLDEN])
    assert missing.exit_code == 2
    assert "cannot be replayed: " in missing.output and "gone.jsonl: no such file" in missing.output
    assert "synthetic.jsonl: 12 passed" in missing.output  # the others still ran


def test_json_report_on_stdout(tmp_path: Path) -> None:
    result = runner.invoke(app, ["replay", GOLDEN, "--json", "--local-space", "blue"])
    assert result.exit_code == 0
    data = json.loads(result.stdout.strip().splitlines()[-1])
    (recording,) = data["recordings"]
    assert data["exit_code"] == 0 and recording["passed"] == 12
    assert recording["bindings"]["LocalDefault"] == "blue"
    assert recording["exchanges"][3]["sent"]["AddressSpace"] == "blue"


def test_junit_report(tmp_path: Path, sockdir: Path) -> None:
    junit = tmp_path / "out" / "replay.xml"
    with serve(sockdir / "p.sock", "empty-200"):
        result = runner.invoke(app, ["replay", GOLDEN, "--target", str(sockdir / "p.sock"),
                                     "--junit", str(junit), "-q"])
    assert result.exit_code == 1
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("skipped")) == ("13", "1")
    failures = suite.findall("testcase/failure")
    assert failures[0].get("message") == ("HTTP 200 with an empty body: dockerd fails with "
                                          "'EOF'")
    assert "#4 IpamDriver.RequestPool" in (failures[0].text or "")


def test_describe_colours_the_diff() -> None:
    result = replay_recording(load(GOLDEN), TargetSpec(
        label="x", app_factory=lambda: make_app("wrong-address")), Rules())
    text = report.describe(result.failures[0])
    styles = {text.plain[span.start:span.end].strip().split(" ")[0]: str(span.style)
              for span in text.spans}
    assert styles["-"] == "red" and styles["+"] == "green"
    assert report.exit_code([result]) == 1


def test_default_rows_are_the_rows_rich_would_print() -> None:
    """The default output writes each row as a painted string (``report.row_line``), not a
    ``Text`` rich lays out: it must be the same bytes rich writes, in every colour system."""
    import io

    from rich.console import Console

    from ipamx_spy.replay.compare import Problem, ProblemKind
    from ipamx_spy.replay.engine import FAIL, PASS, SKIP, ReplayVerdict

    verdicts = [
        ReplayVerdict(seq=3, conn=1, endpoint="IpamDriver.RequestPool", outcome=PASS,
                      meaning="", recorded_status=200, live_status=200),
        ReplayVerdict(seq=4, conn=2, endpoint="Plugin.Activate", outcome=SKIP, meaning="",
                      skip_reason="the recorded plugin gave no answer"),
        ReplayVerdict(seq=12, conn=2, endpoint="IpamDriver.RequestAddress", outcome=FAIL,
                      meaning="", recorded_status=200, live_status=500,
                      problems=(Problem(kind=ProblemKind.STATUS, message="status: 200 vs 500"),
                                Problem(kind=ProblemKind.VALUE, message="Address differs"))),
    ]
    for system in (None, "standard", "256", "truecolor"):
        for verdict in verdicts:
            sink = io.StringIO()
            console = Console(file=sink, color_system=system, width=200,
                              force_terminal=system is not None)
            console.print(report.exchange_row(verdict), soft_wrap=True)
            assert report.row_line(verdict, report.painter(console)) == sink.getvalue()
