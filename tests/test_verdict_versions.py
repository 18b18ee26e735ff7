"""Every reader takes the verdict from the authority for the recording's Docker version
(issue #12, G3): a one-exchange recording whose header names a daemon gets each verdict case
as that daemon sees it, through ``render.problem``, ``show --errors`` and the export's
``problem`` field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner
from verdict_cases import VERSIONS, Case, cases_on

from ipamx_spy import infer, render
from ipamx_spy import recording as rec
from ipamx_spy.cli import app
from ipamx_spy.dockerd import Outcome, read_answer
from ipamx_spy.dockerd.ledger import Ledger
from ipamx_spy.export import build_trace, mitm
from ipamx_spy.export.mitm import flow_states
from ipamx_spy.mitm import flowstate
from ipamx_spy.mitm import view as mitm_view
from ipamx_spy.replay.bindings import Bindings
from ipamx_spy.replay.compare import Live, Problem, ProblemKind, Rules, compare, recorded_outcome
from ipamx_spy.web.board import LiveBoard

ON_EACH = [case for label in VERSIONS for case in cases_on(label)]


def one_exchange(case: Case) -> rec.Exchange:
    raw = (rec.go_json(case.request) + "\n").encode()
    return rec.Exchange(
        seq=1, conn=1, t=0.0, endpoint=case.endpoint.value,
        request=rec.Message(method="POST", target=f"/{case.endpoint.value}", headers=(),
                            body=rec.encode_body(raw)),
        response=rec.Message(status=case.status, reason="OK", headers=(),
                             body=rec.encode_body(case.body)),
        duration_ms=1.0)


def write(tmp_path: Path, case: Case) -> Path:
    path = tmp_path / "one.jsonl"
    lines = [rec.make_header(name="one", docker_version=case.version),
             one_exchange(case).to_json()]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def expected_problem(case: Case) -> str | None:
    if case.outcome is Outcome.SUCCESS:
        return None
    if case.outcome is Outcome.LOGGED:
        return f"{case.error} (dockerd only logged it{logged_as(case)}; the command went on)"
    return case.error


def logged_as(case: Case) -> str:
    """How a problem names the line dockerd logs for a case it only logs: the verdict's line,
    which holds the case's observed log text ("" when dockerd logs it at debug level only)."""
    line = read_answer(case.endpoint, case.status, None, case.body, case.version,
                       request=case.request).shown_log_line
    if line is None:
        return ""
    assert case.log in line, (case.log, line)
    return f", as: {line}"


@pytest.mark.parametrize("case", ON_EACH, ids=lambda c: f"{c.version}-{c.id}")
def test_render_reads_each_case_as_the_recording_s_daemon(case: Case, tmp_path: Path) -> None:
    (exchange,) = rec.load(write(tmp_path, case)).exchanges
    assert exchange.docker_version == case.version
    assert render.problem(exchange) == expected_problem(case)
    assert render.only_logged(exchange) is (case.outcome is Outcome.LOGGED)


@pytest.mark.parametrize("case", ON_EACH, ids=lambda c: f"{c.version}-{c.id}")
def test_show_errors_and_export_problem_follow_the_daemon(case: Case, tmp_path: Path) -> None:
    path = write(tmp_path, case)
    runner = CliRunner()
    shown = runner.invoke(app, ["show", str(path), "--no-validate", "--errors", "--compact"])
    assert shown.exit_code == 0
    listed = any(line.startswith("#1 ") for line in shown.stdout.splitlines())
    assert listed is (case.outcome is not Outcome.SUCCESS)
    exported = runner.invoke(app, ["export", str(path), "--format", "json", "-o", "-",
                                   "--no-validate"])
    assert exported.exit_code == 0
    (item,) = json.loads(exported.stdout)["exchanges"]
    assert item["problem"] == expected_problem(case)


def test_a_header_naming_no_version_reads_as_the_default(tmp_path: Path) -> None:
    oper_info = next(c for c in cases_on("28.5") if c.id == "oper-info-empty-200")
    path = write(tmp_path, oper_info)
    lines = path.read_text().splitlines()
    header = {**json.loads(lines[0]), "docker_version": "unknown"}
    path.write_text(json.dumps(header) + "\n" + lines[1] + "\n")
    (exchange,) = rec.load(path).exchanges
    assert render.problem(exchange) == "EOF"


@pytest.mark.parametrize("case", ON_EACH, ids=lambda c: f"{c.version}-{c.id}")
def test_replay_reads_each_case_as_the_recording_s_daemon(case: Case, tmp_path: Path) -> None:
    (exchange,) = rec.load(write(tmp_path, case)).exchanges
    assert exchange.response is not None
    read = recorded_outcome(exchange, exchange.response.raw_body)
    assert (read.outcome, read.error) == (case.outcome, case.error)


def test_replay_says_when_a_live_error_is_only_logged() -> None:
    oper_info = next(c for c in cases_on("28.5") if c.id == "oper-info-empty-200")
    problems = compare(endpoint=oper_info.endpoint.value, request=oper_info.request,
                       recorded_status=200, recorded_body=b"{}",
                       live=Live(status=200, body=b""), bindings=Bindings(), ledger=Ledger(),
                       rules=Rules(), version=oper_info.version)
    assert [p.message for p in problems] == [
        "HTTP 200 with an empty body: dockerd only logs 'EOF'",
        "dockerd would see an error, 'EOF', where the recording succeeded (dockerd only logs "
        "it, as: NetworkDriver.EndpointOperInfo: error reading plugin resp: EOF; the command "
        "goes on)"]


@pytest.mark.parametrize("label", list(VERSIONS))
def test_only_logged_comes_from_the_verdict_in_infer_and_the_mitm_export(
        label: str, tmp_path: Path) -> None:
    """An empty EndpointOperInfo fails ``docker run`` on 20.10 and 26.1 and is only logged on
    28.5 (the row says it fails the command): inference marks the call failed ("!") and the
    mitmproxy export calls it a failure only where the daemon says so."""
    oper_info = next(c for c in cases_on(label) if c.id == "oper-info-empty-200")
    (exchange,) = rec.load(write(tmp_path, oper_info)).exchanges
    logged = oper_info.outcome is Outcome.LOGGED
    ((word, _),) = infer.classify([exchange])
    assert word.endswith("!") is not logged
    assert mitm.verdict(exchange) == {"outcome": mitm.LOGGED_ONLY if logged else mitm.FAILURE,
                                      "problem": expected_problem(oper_info)}


def test_a_problem_kind_is_a_member_and_keeps_its_word() -> None:
    problem = Problem(kind="error-text", message="m")  # type: ignore[arg-type]
    assert problem.kind is ProblemKind.ERROR_TEXT
    assert problem.to_json() == {"kind": "error-text", "path": "", "message": "m"}
    with pytest.raises(ValueError):
        Problem(kind="other", message="m")  # type: ignore[arg-type]


def test_a_merge_reads_each_host_s_exchanges_as_that_host_s_daemon(tmp_path: Path) -> None:
    paths = []
    for label in ("20.10", "28.5"):
        oper_info = next(c for c in cases_on(label) if c.id == "oper-info-empty-200")
        (tmp_path / label).mkdir()
        paths.append(str(write(tmp_path / label, oper_info)))
    exported = CliRunner().invoke(app, ["export", *paths, "--format", "json", "-o", "-",
                                        "--no-validate"])
    assert exported.exit_code == 0, exported.output
    problems = [item["problem"] for item in json.loads(exported.stdout)["exchanges"]]
    assert sorted(problems) == [
        "EOF", "EOF (dockerd only logged it, as: NetworkDriver.EndpointOperInfo: error reading "
        "plugin resp: EOF; the command went on)"]


@pytest.mark.parametrize("label", list(VERSIONS))
def test_an_exported_flow_is_read_back_as_the_recording_s_daemon(
        label: str, tmp_path: Path) -> None:
    oper_info = next(c for c in cases_on(label) if c.id == "oper-info-empty-200")
    (state,) = flow_states(build_trace(rec.load(write(tmp_path, oper_info))))
    said = ("only logs the error: EOF, as: NetworkDriver.EndpointOperInfo: error reading plugin "
            "resp: EOF" if oper_info.outcome is Outcome.LOGGED else "fails the command: EOF")
    assert mitm_view.verdict_line(flowstate.exchange_of(state)) == [("error", f"dockerd {said}")]


@pytest.mark.parametrize("label", list(VERSIONS))
def test_the_live_web_board_reads_as_the_session_s_daemon(label: str, tmp_path: Path) -> None:
    oper_info = next(c for c in cases_on(label) if c.id == "oper-info-empty-200")
    loaded = rec.load(write(tmp_path, oper_info))
    live = LiveBoard(dict(loaded.header), validate=False)
    for record in loaded.records:
        live.on_record(dict(record), None)
    facts = live.build(len(live.records)).meta
    logged = oper_info.outcome is Outcome.LOGGED
    assert ("1 failed (1 only logged by dockerd)" in facts) is logged
    assert "1 failed" in facts
