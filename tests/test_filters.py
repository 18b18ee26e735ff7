"""The filter language (``ipamx_spy.filters``): grammar, tests, errors with columns, wiring."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from typer.testing import CliRunner

from ipamx_spy import filters, recording
from ipamx_spy.cli import app
from ipamx_spy.filters import FilterContext, FilterError, parse
from ipamx_spy.findings import Finding
from ipamx_spy.records import SectionSource

ROOT = Path(__file__).parent.parent
TALK = ROOT / "recordings" / "talk.jsonl"
SYNTHETIC = Path(__file__).parent / "golden" / "synthetic.jsonl"
BROKEN = Path(__file__).parent / "broken"


@pytest.fixture(scope="module")
def talk() -> recording.Recording:
    return recording.load(TALK)


def seqs(rec: recording.Recording, text: str, context: FilterContext = filters.EMPTY) -> list[int]:
    chosen = parse(text)
    return [e.seq for e in rec.exchanges if chosen(e, context)]


def test_endpoint_status_and_bare_words(talk: recording.Recording) -> None:
    assert seqs(talk, "RequestPool") == seqs(talk, "~e requestpool") == [4]
    assert seqs(talk, "~e Request") == [4, 5, 6, 7]
    assert seqs(talk, "~c 200") == [e.seq for e in talk.exchanges]
    assert seqs(talk, "~c 4xx") == [] and seqs(talk, "~c 100-199") == []


def test_operators_and_precedence(talk: recording.Recording) -> None:
    assert seqs(talk, "~e Address & ~n 5-6") == [5, 6]
    assert seqs(talk, "~e Address ~n 5-6") == [5, 6]  # side by side is and
    assert seqs(talk, "~n 1 | ~n 4") == [1, 4]
    assert seqs(talk, "!~e Ipam") == [1]
    assert seqs(talk, "~n 1 | ~n 4 & ~e Activate") == [1]  # & binds tighter than |
    assert seqs(talk, "(~n 1 | ~n 4) & ~e Pool") == [4]
    assert seqs(talk, "!!~n 2") == [2]


def test_bodies_headers_json_paths_and_connections(talk: recording.Recording) -> None:
    assert seqs(talk, r"~bs '10\.4\.4\.21/24'") == [6]
    assert seqs(talk, r"~bq '10\.4\.4\.21/24'") == []
    assert seqs(talk, r"~b '\"Address\":\"10\.4\.4\.21\"' ~e Request") == [6]
    assert seqs(talk, "~hq 'Content-Length: 0'") == seqs(talk, "~hq '^content-length: 0$'")
    assert seqs(talk, "~j Options.*RequestAddressType & ~n 5") == [5]
    assert seqs(talk, "~j **.PoolID") == seqs(talk, "~j PoolID")
    assert seqs(talk, "~conn 1") == [e.seq for e in talk.exchanges if e.conn == 1]
    assert seqs(talk, "~conn 99") == []


def test_time_latency_and_numbers(talk: recording.Recording) -> None:
    first, last = talk.exchanges[0], talk.exchanges[-1]
    assert seqs(talk, f"~t -{first.t}") == [first.seq]
    assert seqs(talk, f"~t {last.t}s-") == [last.seq]
    slowest = max(talk.exchanges, key=lambda e: e.duration_ms)
    assert seqs(talk, f"~ms {slowest.duration_ms}-") == [slowest.seq]
    assert seqs(talk, "~n 3-4,9-") == [3, 4, 9, 10, 11]


def test_errors_faults_and_unanswered() -> None:
    rec = recording.load(SYNTHETIC)
    assert seqs(rec, "~err") == [7, 9, 10]  # the same exchanges as show --errors
    broken = recording.load(BROKEN / "hangup-then-empty-retry.jsonl")
    faulted = [e.seq for e in broken.exchanges if e.fault is not None]
    assert faulted and seqs(broken, "~fault") == faulted
    assert seqs(broken, "~fault plugin/closed") == [
        e.seq for e in broken.exchanges if e.fault is not None and e.fault.kind == "closed"]
    assert seqs(broken, "~q") == [e.seq for e in broken.exchanges if e.response is None]


def test_sections_markers_and_findings(talk: recording.Recording) -> None:
    marked = FilterContext(section_title="docker run --ip", section_source=SectionSource.MARKER)
    inferred = FilterContext(section_title="docker run --ip", section_source=SectionSource.INFERRED)
    both = parse("~mark 'run --ip'")
    assert both(talk.exchanges[0], marked) and not both(talk.exchanges[0], inferred)
    assert parse("~sec 'run --ip'")(talk.exchanges[0], inferred)
    found = FilterContext(findings=(Finding(code="IPX403", severity="info", seq=1, message="x"),))
    assert parse("~rule IPX403")(talk.exchanges[0], found)
    assert parse("~rule IPX4")(talk.exchanges[0], found)
    assert not parse("~rule IPX1")(talk.exchanges[0], found)
    assert parse("~sev info")(talk.exchanges[0], found)
    assert not parse("~sev warning")(talk.exchanges[0], found)


@pytest.mark.parametrize(("text", "column", "words"), [
    ("~c abc", 4, "status code"),
    ("(~e a", 6, "')'"),
    ("~e a |", 6, "both sides"),
    ("~zz", 1, "unknown test ~zz"),
    ("~e '('", 5, "regular expression"),
    ("~e", 3, "needs a value"),
    ("a ) b", 3, "without a '('"),
    ("~sev bad", 6, "severity"),
    ("~t x-y", 4, "seconds"),
    ("  ", 1, "empty"),
    ("! ~zz", 3, "unknown test ~zz"),  # after '!' and a space: under the test, not the space
    ("!  ~e", 6, "needs a value"),
    ("!\t~zz", 3, "unknown test ~zz"),  # a tab is one column, as the user typed it
    ("a\t)", 3, "without a '('"),
])
def test_errors_point_at_the_column(text: str, column: int, words: str) -> None:
    with pytest.raises(FilterError) as caught:
        parse(text)
    assert caught.value.column == column
    assert words in caught.value.reason
    assert caught.value.pointer().splitlines()[1].index("^") == column + 1


@given(st.text(alphabet="~!&|() \teabcnq1-'\"", max_size=20))
@example("! ~")  # the caret stood under the space after '!'
@example("!\t~e")
def test_any_text_parses_or_says_where(text: str) -> None:
    try:
        chosen = parse(text)
    except FilterError as exc:
        # The caret stands under what the reason names.
        at, rest = text[exc.column - 1:exc.column], text[exc.column - 1:]
        if exc.reason.startswith("unexpected "):
            assert exc.reason.startswith(f"unexpected {at!r}")
        elif exc.reason.startswith("')' without"):
            assert at == ")"
        elif "needs a test on both sides" in exc.reason:
            assert exc.reason.startswith(repr(at)) and at in "|&"
        elif exc.reason.startswith(("the filter ends too early", "the filter is empty")):
            assert not rest.strip()
        elif exc.reason.startswith("unknown test ~"):
            assert rest.startswith(exc.reason.split()[2])
        elif exc.reason.startswith("expected ')' to close the '(', found "):
            found = exc.reason.rsplit("found ", 1)[1]
            assert found == (repr(at) if at else "the end of the filter")
        elif exc.reason.startswith("endpoint "):  # a bare word that is no regular expression
            assert rest.strip() and rest[0] not in " |&)"
        else:  # a test's value is wrong or missing: the caret is past the test's name
            assert exc.reason.startswith("~") and "~" in text[:exc.column]
    else:
        # What parses prints as a filter that parses back to the same one.
        assert parse(str(chosen)) == chosen


def test_printed_filters_parse_back_to_the_same() -> None:
    for text in ["~e Pool & !(~c 5xx | ~err)", "~b 'a b' ~hq \"x'y\"", "~fault | ~q"]:
        chosen = parse(text)
        assert parse(str(chosen)) == chosen


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_show_and_export_take_a_filter() -> None:
    code, out, _ = run("show", str(SYNTHETIC), "--no-validate", "--compact",
                       "--filter", "~err & !~e ReleaseAddress")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines() if line.startswith("#")] == ["#7"]
    code, out, _ = run("export", str(TALK), "-f", "json", "--filter", "~e RequestAddress",
                       "--filter", "~n 6-")
    assert code == 0
    import json
    assert [e["seq"] for e in json.loads(out)["exchanges"]] == [6, 7]


def test_a_bad_filter_exits_2_pointing_at_the_column() -> None:
    code, _, err = run("show", str(TALK), "--filter", "~e Pool & (~c 5xx")
    assert code == 2
    assert "column 18" in err and "^" in err


def test_check_filters_findings_and_switches_rules() -> None:
    target = str(BROKEN / "html-content-type.jsonl")
    code, out, _ = run("check", target)
    assert "IPX403" in out
    code, out, _ = run("check", target, "--ignore-rule", "IPX403")
    assert "IPX403" not in out
    code, out, _ = run("check", target, "--ignore-rule", "ipx4")
    assert "IPX4" not in out
    code, _, err = run("check", target, "--ignore-rule", "IPX999")
    assert code == 2 and "IPX999" in err
    code, out, _ = run("check", str(BROKEN / "empty-200.jsonl"), "--filter", "!~e RequestPool")
    assert code == 0 and "IPX102" not in out
    code, out, _ = run("check", str(BROKEN / "empty-200.jsonl"), "--filter", "~rule IPX102")
    assert code == 1 and "IPX102" in out


def test_check_reads_the_project_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.ipamx-spy]\nignore-rules = ["IPX403"]\n', encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    code, out, _ = run("check", str(BROKEN / "html-content-type.jsonl"))
    assert "IPX403" not in out
    (tmp_path / "pyproject.toml").write_text('[tool.ipamx-spy]\nignore = 1\n', encoding="utf-8")
    code, _, err = run("check", str(BROKEN / "html-content-type.jsonl"))
    assert code == 2 and "unknown key 'ignore'" in err
