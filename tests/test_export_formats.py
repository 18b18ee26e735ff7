"""The export formats checked for structure: well-formed SVG, Mermaid's sequence-diagram
grammar, HAR 1.2 fields, self-contained HTML, Markdown fences, JSON records; plus selection,
redaction and validator findings across every format."""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from ipamx_spy import recording as rec
from ipamx_spy.export import (
    FORMATS,
    Options,
    Selection,
    SelectionError,
    Trace,
    build_trace,
    parse_range,
)
from ipamx_spy.export.trace import check
from ipamx_spy.findings import Finding
from ipamx_spy.redact import REDACTED, parse_rules

SYNTHETIC = Path(__file__).parent / "golden" / "synthetic.jsonl"
SECRET = "10.4.4.21"


@pytest.fixture(scope="module")
def recording() -> rec.Recording:
    return rec.load(SYNTHETIC)


def trace_of(recording: rec.Recording, **kw: Any) -> Trace:
    kw.setdefault("validate", False)
    return build_trace(recording, **kw)


# -- selection ------------------------------------------------------------------------------


@pytest.mark.parametrize("text, ranges", [
    ("3-7", ((3, 7),)), ("5", ((5, 5),)), ("3-", ((3, None),)), ("-7", ((1, 7),)),
    ("1, 4-6", ((1, 1), (4, 6))),
])
def test_parse_range(text: str, ranges: tuple[tuple[int, int | None], ...]) -> None:
    assert parse_range(text) == ranges


@pytest.mark.parametrize("text", ["", "a-b", "7-3", "0", "1-2-3", "3,,4"])
def test_bad_ranges_are_refused(text: str) -> None:
    with pytest.raises(SelectionError, match="--range"):
        parse_range(text)


def test_selection_filters_keep_only_sections_with_exchanges(recording: rec.Recording) -> None:
    errors = trace_of(recording, selection=Selection(errors=True))
    assert [e.seq for e in errors.exchanges] == [7, 9, 10]
    pools = trace_of(recording, selection=Selection(endpoints=("pool",), ranges=((1, 12),)))
    assert [e.seq for e in pools.exchanges] == [4]
    assert [s.title for s in pools.sections] == ["docker network create"]
    everything = trace_of(recording)
    assert "docker rm web" in [s.title for s in everything.sections]  # kept although empty


# -- SVG ------------------------------------------------------------------------------------


def test_svg_is_well_formed_offline_and_shows_only_the_range(recording: rec.Recording) -> None:
    text = FORMATS["svg"](trace_of(recording, selection=Selection(ranges=((4, 5),))))
    root = ET.fromstring(text)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    shown = "".join(root.itertext()).replace("\xa0", " ")
    assert "IpamDriver.RequestPool" in shown and "#5" in shown
    assert "#6 " not in shown and "ReleasePool" not in shown
    assert not re.search(r"url\(\s*[\"']?https?:", text)


# -- Mermaid --------------------------------------------------------------------------------

PARTICIPANT = re.compile(r"^    participant (\w+) as (\S.*)$")
MESSAGE = re.compile(r"^    (\w+)(->>|-->>|->|-->|-x|--x)(\w+): (\S.*)$")
ENTITY = re.compile(r"#\w+;")
NOTE = re.compile(r"^    Note (?:over (\w+)(?:,(\w+))?|(?:left|right) of (\w+)): (\S.*)$")


def check_sequence_diagram(text: str) -> int:
    """Check Mermaid's sequenceDiagram grammar as used here; the number of messages."""
    lines = text.rstrip("\n").split("\n")
    assert lines[0] == "sequenceDiagram"
    declared: set[str] = set()
    messages = 0
    for line in lines[1:]:
        if match := PARTICIPANT.match(line):
            assert messages == 0, "participants come first"
            declared.add(match[1])
            continue
        match = MESSAGE.match(line) or NOTE.match(line)
        assert match, f"not a sequence-diagram statement: {line!r}"
        names = [g for g in match.groups()[:-1] if g and g.isidentifier()]
        assert set(names) <= declared, f"undeclared participant in {line!r}"
        # ';' ends a statement and '#' starts a comment: both only inside entity codes
        bare = ENTITY.sub("", match.groups()[-1])
        assert not set(bare) & set(";#<>%{}"), f"unescaped text in {line!r}"
        messages += bool(MESSAGE.match(line))
    return messages


def test_mermaid_follows_the_grammar(recording: rec.Recording) -> None:
    text = FORMATS["mermaid"](trace_of(recording))
    messages = check_sequence_diagram(text)
    # per section one arrow from the CLI; per exchange four (#9 ends in a lost answer)
    assert messages == 9 + 4 * 13
    assert "spy--xdockerd: failed: remote: Address already in use" in text
    assert "plugin--xspy: the plugin closed the connection without answering" in text


def with_note(tmp_path: Path, text: str) -> rec.Recording:
    path = tmp_path / "noted.jsonl"
    path.write_text(SYNTHETIC.read_text() + json.dumps(
        {"type": "note", "seq": 4, "text": text, "t": 1}) + "\n")
    return rec.load(path)


def test_mermaid_escapes_statement_breaking_text(tmp_path: Path) -> None:
    text = FORMATS["mermaid"](trace_of(with_note(tmp_path, "a; b <i>%% c {d}\nnext")))
    check_sequence_diagram(text)
    assert "a#59; b #lt;i#gt;#37;#37; c #123;d#125; next" in text
    assert "dockerd->>spy: #35;4 RequestPool" in text


# -- HAR ------------------------------------------------------------------------------------


def test_har_has_the_fields_har_1_2_requires(recording: rec.Recording) -> None:
    har = json.loads(FORMATS["har"](trace_of(recording)))["log"]
    assert har["version"] == "1.2" and har["creator"]["name"] == "ipamx-spy"
    pages = {p["id"]: p for p in har["pages"]}
    assert [p["title"] for p in har["pages"]][-3:] == [
        "docker stop web", "docker rm web", "docker network rm talk"]
    assert pages["section-7"]["comment"] == "marked while recording; frees 10.4.4.21"
    assert len(har["entries"]) == 13
    for entry, exchange in zip(har["entries"], recording.exchanges, strict=True):
        assert entry["pageref"] in pages
        started = dt.datetime.fromisoformat(entry["startedDateTime"].replace("Z", "+00:00"))
        expected = dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC) + dt.timedelta(seconds=exchange.t)
        assert abs((started - expected).total_seconds()) < 0.001
        timings = [v for v in entry["timings"].values() if v >= 0]
        assert entry["time"] == pytest.approx(sum(timings))
        plugin_ms = exchange.duration_ms if exchange.upstream_ms is None else exchange.upstream_ms
        assert entry["timings"]["wait"] == pytest.approx(plugin_ms)
        request = entry["request"]
        assert request["url"] == f"http://plugin.moby.localhost{exchange.request.target}"
        assert {"method", "httpVersion", "cookies", "headers", "queryString",
                "headersSize", "bodySize"} <= set(request)
        assert request.get("postData", {}).get("text", "").encode() == exchange.request.raw_body
        response = entry["response"]
        assert {"status", "statusText", "httpVersion", "cookies", "headers", "content",
                "redirectURL", "headersSize", "bodySize"} <= set(response)
        if exchange.response is not None:
            assert response["content"]["text"].encode() == exchange.response.raw_body
    assert "--ip arrives as a plain address" in har["entries"][5]["comment"]
    assert har["entries"][8]["response"]["status"] == 0 and "_error" in har["entries"][8]


def test_har_url_uses_a_non_empty_host_header(recording: rec.Recording) -> None:
    from ipamx_spy.export.har import url
    message = recording.exchanges[0].request
    moved = rec.Message(method="POST", target="/Plugin.Activate",
                        headers=(("Host", "127.0.0.1:8080"),), body=message.body)
    assert url(moved) == "http://127.0.0.1:8080/Plugin.Activate"


# -- HTML, Markdown, JSON -------------------------------------------------------------------


def test_html_is_self_contained_and_lists_every_exchange_and_note(
    recording: rec.Recording,
) -> None:
    text = FORMATS["html"](trace_of(recording))
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "<link" not in text and "@import" not in text and "url(" not in text
    for exchange in recording.exchanges:
        assert f'id="x{exchange.seq}"' in text
    for texts in recording.notes().values():
        for note in texts:
            assert note.replace("'", "&#x27;") in text
    assert text.count("<details") == text.count("</details>") == 13


def test_user_text_is_escaped_in_html_and_markdown(tmp_path: Path) -> None:
    trace = trace_of(with_note(tmp_path, "<script>alert(1)</script> *bold*"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in FORMATS["html"](trace)
    assert "\\<script\\>alert(1)\\</script\\> \\*bold\\*" in FORMATS["markdown"](trace)


def test_markdown_fences_balance_and_headers_are_optional(recording: rec.Recording) -> None:
    plain = FORMATS["markdown"](trace_of(recording, options=Options(headers=False)))
    full = FORMATS["markdown"](trace_of(recording, options=Options(headers=True)))
    bare = FORMATS["markdown"](trace_of(recording, options=Options(headers=False, bodies=False)))
    assert plain.count("```") % 2 == 0 and full.count("```") % 2 == 0
    assert "```http" not in plain and full.count("```http") == 13 + 12
    assert "```json" not in bare
    for exchange in recording.exchanges:
        assert f"### #{exchange.seq} `{exchange.endpoint}`" in plain
    assert "## 8. docker rm web" in plain and "*No plugin calls.*" in plain


def test_json_records_decode_bodies_and_point_to_sections(recording: rec.Recording) -> None:
    document = json.loads(FORMATS["json"](trace_of(recording)))
    assert (document["format"], document["version"]) == ("ipamx-spy-export", 1)
    assert [e["seq"] for e in document["exchanges"]] == list(range(1, 14))
    for item, exchange in zip(document["exchanges"], recording.exchanges, strict=True):
        assert item["request"]["body"] == exchange.request.value
        section = document["sections"][item["section"] - 1]
        assert item["seq"] in section["seqs"]
    assert document["exchanges"][6]["problem"] == "remote: Address already in use"
    assert [m["text"] for m in document["markers"]][0] == "docker stop web"
    assert {e["type"] for e in document["events"]} == {"open", "close"}


# -- redaction and findings across formats --------------------------------------------------


def test_redacted_values_appear_in_no_format(recording: rec.Recording) -> None:
    rules = parse_rules(["Address", "header:Date"])
    trace = trace_of(recording, rules=rules, options=Options(headers=True))
    for name, export in FORMATS.items():
        text = export(trace)
        assert SECRET not in text, name
        assert "Nov 2026 10:00" not in text, name
    assert REDACTED in FORMATS["json"](trace)


@pytest.fixture
def fake_validator(monkeypatch: pytest.MonkeyPatch) -> list[Finding]:
    findings = [
        Finding(code="IPX900", severity="error", seq=6, message=f"{SECRET} was taken twice"),
        Finding(code="IPX901", severity="info", seq=0, message="session-wide remark"),
    ]
    module = types.ModuleType("ipamx_spy.validate")
    module.check_recording = lambda rec_: list(findings)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "ipamx_spy.validate", module)
    return findings


def test_findings_show_in_html_markdown_and_are_scrubbed(
    recording: rec.Recording, fake_validator: list[Finding],
) -> None:
    trace = build_trace(recording)
    html = FORMATS["html"](trace)
    assert "IPX900" in html and f"{SECRET} was taken twice" in html
    assert "session-wide remark" in FORMATS["markdown"](trace)
    redacted = build_trace(recording, rules=parse_rules(["Address"]))
    assert f"{REDACTED} was taken twice" in FORMATS["html"](redacted)


def test_missing_validator_means_no_findings(
    recording: rec.Recording, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "ipamx_spy.validate", None)
    assert check(recording) == ()


def test_panel_puts_request_and_response_side_by_side_only_when_wide() -> None:
    import io

    from rich.console import Console

    from ipamx_spy import recording, render

    talk = Path(__file__).parent.parent / "recordings" / "talk.jsonl"
    exchange = recording.load(talk).exchanges[3]

    def lines(width: int) -> list[str]:
        console = Console(file=io.StringIO(), width=width, color_system=None)
        console.print(render.exchange_panel(exchange))
        return console.file.getvalue().splitlines()  # type: ignore[attr-defined]

    wide = next(line for line in lines(160) if "docker → plugin" in line)
    assert "plugin → docker" in wide
    narrow = lines(100)
    assert not any("docker → plugin" in line and "plugin → docker" in line for line in narrow)
    assert any("plugin → docker" in line for line in narrow)


def test_a_failure_dockerd_only_logged_counts_and_says_so() -> None:
    from ipamx_spy import render
    from ipamx_spy.recording import Exchange, Message, encode_body

    release = Exchange(
        seq=1, conn=1, t=0.0, endpoint="IpamDriver.ReleasePool",
        request=Message(method="POST", target="/IpamDriver.ReleasePool", headers=(),
                        body=encode_body(b'{"PoolID":"p1"}\n')),
        response=Message(status=200, reason="OK", headers=(), body=encode_body(b"")),
        duration_ms=1.0)
    assert render.only_logged(release)
    assert render.problem(release) == (
        "EOF (dockerd only logged it, as: Failed to release address pool p1 on delete of network "
        "<name> (<id>): EOF; the command went on)")


def test_findings_are_indexed_by_exchange_not_scanned_for_each() -> None:
    from ipamx_spy.export.trace import Trace
    from ipamx_spy.findings import Finding

    class Counted(tuple[Finding, ...]):
        reads = 0

        def __iter__(self) -> Any:
            for item in super().__iter__():
                Counted.reads += 1
                yield item

    n = 2000
    found = Counted(Finding(code="IPX101", severity="warning", seq=seq // 2, message=str(seq))
                    for seq in range(2 * n))
    Counted.reads = 0
    trace = Trace(source="x", header={}, sections=(), findings=found)
    got = [trace.findings_for(seq) for seq in range(n)]
    assert [f.message for f in got[7]] == ["14", "15"] and trace.findings_for(n + 5) == ()
    assert Counted.reads <= 2 * n  # one pass, not one per exchange (that would be 8,000,000)
