"""Readers that stream: sections handed out as they complete, the streamed trace, check, note
and replay reading record by record, each the same as the whole-file reading it replaces."""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipamx_spy import infer
from ipamx_spy import recording as rec
from ipamx_spy.export import FORMATS, build_trace
from ipamx_spy.export.markdown import joined
from ipamx_spy.export.mitm import export_mitm
from ipamx_spy.export.records import export_json
from ipamx_spy.export.stream import TEXT_STREAMS, StreamedTrace, export_chunks, open_trace
from ipamx_spy.export.trace import Selection, tally
from ipamx_spy.filters import parse
from ipamx_spy.notes import NoteError, note_record
from ipamx_spy.recording_reader import RecordingReader
from ipamx_spy.replay.compare import Rules
from ipamx_spy.replay.engine import PASS, SKIP, replay_path, replay_recording, target_digest
from ipamx_spy.replay.target import parse_target
from ipamx_spy.validate import check_file, check_recording

ROOT = Path(__file__).resolve().parents[1]
CORPUS = sorted({*ROOT.glob("recordings/**/*.jsonl"), *ROOT.glob("tests/captures/**/*.jsonl"),
                 ROOT / "tests" / "golden" / "synthetic.jsonl"})
SYNTHETIC = ROOT / "tests" / "golden" / "synthetic.jsonl"
TALK = ROOT / "recordings" / "talk.jsonl"


def _shape(sections: list[infer.Section]) -> list[tuple[Any, ...]]:
    return [(s.title, s.source, s.t, s.seqs, s.detail, s.failed) for s in sections]


def _markers(recording: rec.Recording) -> list[dict[str, Any]]:
    return recording.markers()


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(ROOT)))
def test_streamed_sections_are_the_whole_recordings_sections(path: Path) -> None:
    recording = rec.load(path)
    streamed = list(infer.stream_sections(recording.exchanges, _markers(recording)))
    assert _shape(streamed) == _shape(infer.sections(recording))


def _long(path: Path, copies: int, tmp_path: Path) -> Path:
    """The recording's exchanges ``copies`` times, renumbered, 10 s apart, in one file."""
    recording = rec.load(path)
    out = tmp_path / f"long-{path.stem}.jsonl"
    lines = [json.dumps(recording.header)]
    seq, start = 0, 0.0
    for _ in range(copies):
        for exchange in sorted(recording.exchanges, key=lambda e: e.seq):
            seq += 1
            moved = dataclasses.replace(exchange, seq=seq, t=start + exchange.t)
            lines.append(json.dumps(moved.to_json()))
        start += (recording.exchanges[-1].t if recording.exchanges else 0.0) + 10.0
    out.write_text("\n".join(lines) + "\n")
    return out


def test_a_window_cut_at_pauses_infers_what_the_whole_recording_does(tmp_path: Path) -> None:
    long = rec.load(_long(TALK, 12, tmp_path))
    assert len(long.exchanges) > 8 * 16  # many windows of 16
    streamed = list(infer.stream_sections(long.exchanges, (), window=16))
    assert _shape(streamed) == _shape(infer.sections(long))


def test_a_burst_longer_than_the_window_is_cut_and_every_call_is_kept() -> None:
    talk = rec.load(TALK)
    back_to_back = [dataclasses.replace(e, seq=n, t=n * 0.001)
                    for n, e in enumerate(sorted(talk.exchanges * 5, key=lambda e: e.seq), 1)]
    streamed = list(infer.stream_sections(back_to_back, (), window=8))
    seqs = [s for section in streamed for s in section.seqs]
    assert seqs == [e.seq for e in back_to_back]
    assert max(len(section.exchanges) for section in streamed) <= 8


def test_a_marker_section_longer_than_the_window_comes_in_parts_under_its_text() -> None:
    talk = rec.load(TALK)
    exchanges = sorted(talk.exchanges, key=lambda e: e.seq)
    marker = {"type": "marker", "t": 0.0, "after_seq": 0, "text": "all of it"}
    parts = list(infer.stream_sections(exchanges, [marker], window=4))
    assert {p.title for p in parts} == {"all of it"}
    assert [s for p in parts for s in p.seqs] == [e.seq for e in exchanges]
    assert len(parts) == -(-len(exchanges) // 4)


def test_sections_come_before_the_exchanges_are_all_read() -> None:
    talk = rec.load(TALK)
    base = sorted(talk.exchanges, key=lambda e: e.seq)
    pulled = 0

    def endless() -> Iterator[rec.Exchange]:
        nonlocal pulled
        n = 0
        while True:
            for exchange in base:
                n += 1
                pulled += 1
                yield dataclasses.replace(exchange, seq=n, t=n * 100.0)

    first = next(infer.stream_sections(endless(), (), window=64))
    assert first.exchanges and pulled <= 64 + infer.REORDER_SLACK + 1


def test_exchanges_come_back_in_number_order_within_the_slack() -> None:
    talk = sorted(rec.load(TALK).exchanges, key=lambda e: e.seq)
    shuffled = list(talk)
    for index in range(0, len(shuffled) - 3, 4):  # each run of four in reverse
        shuffled[index:index + 4] = reversed(shuffled[index:index + 4])
    assert [e.seq for e in infer.in_seq_order(shuffled, slack=4)] == [e.seq for e in talk]
    late = [*talk[1:], talk[0]]  # later than the slack: handed out when it comes, not lost
    assert sorted(e.seq for e in infer.in_seq_order(late, slack=2)) == [e.seq for e in talk]


@pytest.mark.parametrize("path", [SYNTHETIC, TALK, ROOT / "recordings" / "errors.jsonl"],
                         ids=lambda p: p.name)
def test_the_streamed_trace_exports_what_the_loaded_trace_does(path: Path) -> None:
    rules_text = ["**.Gateway", "header:User-Agent"]
    from ipamx_spy.redact import parse_rules

    rules = parse_rules(rules_text)
    selection = Selection(endpoints=("Request",))
    whole = build_trace(rec.load(path), selection=selection, rules=rules)
    streamed = open_trace([path], selection=selection, rules=rules)
    assert isinstance(streamed, StreamedTrace)
    for name, streaming in TEXT_STREAMS.items():
        assert "".join(streaming(streamed)) == FORMATS[name](whole), name
    assert b"".join(export_chunks("mitm", streamed)) == export_mitm(whole)
    assert tally(streamed).exchanges == len(whole.exchanges)
    assert tally(streamed).sections == len(whole.sections)


def test_a_filter_is_judged_with_each_exchanges_section_and_findings() -> None:
    chosen = parse("~e RequestAddress")
    selection = Selection(filter=chosen)
    whole = build_trace(rec.load(SYNTHETIC), selection=selection)
    streamed = open_trace([SYNTHETIC], selection=selection)
    assert export_json(streamed) == export_json(whole)
    assert {e.endpoint for e in whole.exchanges} == {"IpamDriver.RequestAddress"}


def test_damage_is_told_once_by_the_survey(tmp_path: Path) -> None:
    path = tmp_path / "torn.jsonl"
    path.write_bytes(SYNTHETIC.read_bytes() + b'{"type":"exchange","seq":99,"endp')
    told: list[str] = []
    trace = open_trace([path], on_damage=lambda d: told.append(str(d)))
    assert len(told) == 1 and "incomplete last record" in told[0]
    export_json(trace)
    assert len(told) == 1


def test_check_file_streams_the_same_findings_and_names_only_their_endpoints(
        tmp_path: Path) -> None:
    for path in CORPUS:
        report = check_file(path)
        whole = check_recording(rec.load(path))
        assert report.findings == tuple(whole), path
        assert report.exchanges == len(rec.load(path).exchanges)
        assert set(report.endpoints) <= {f.seq for f in whole}  # only what findings are about
        by_seq = {e.seq: e.endpoint for e in rec.load(path).exchanges}
        for finding in report.findings:
            if finding.seq in by_seq:
                assert report.endpoints[finding.seq] == by_seq[finding.seq], path


def test_a_note_reads_its_file_record_by_record(tmp_path: Path) -> None:
    import datetime as dt

    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    loaded = note_record(rec.load(SYNTHETIC), 4, " why ", now)
    assert note_record(SYNTHETIC, 4, " why ", now) == loaded
    with pytest.raises(NoteError, match="numbered 1 to 13"):
        note_record(SYNTHETIC, 99, "x", now)
    torn = tmp_path / "torn.jsonl"
    torn.write_bytes(SYNTHETIC.read_bytes() + b'{"type":"note"')
    told: list[str] = []
    with pytest.raises(NoteError, match="incomplete"):
        note_record(torn, 4, "x", now, on_damage=lambda d: told.append(str(d)))
    assert len(told) == 1


class _Heard:
    def __init__(self) -> None:
        self.events: list[tuple[str, Any]] = []

    def started(self, source: str, target: str) -> None:
        self.events.append(("started", source))

    def verdict(self, verdict: Any) -> None:
        self.events.append(("verdict", verdict.seq))

    def skipped(self, warning: str) -> None:
        self.events.append(("skipped", warning))

    def finished(self) -> None:
        self.events.append(("finished", None))


def test_a_streamed_replay_tells_each_verdict_and_keeps_only_what_failed(tmp_path: Path) -> None:
    spec = parse_target("builtin")
    whole = replay_recording(rec.load(SYNTHETIC), spec, Rules())
    heard = _Heard()
    streamed = replay_path(SYNTHETIC, spec, Rules(), listener=heard, keep_all=False)
    assert [seq for kind, seq in heard.events if kind == "verdict"] == \
        [v.seq for v in whole.verdicts]
    assert heard.events[0] == ("started", str(SYNTHETIC))
    assert heard.events[-1] == ("finished", None)
    assert all(v.outcome != PASS for v in streamed.verdicts)
    for outcome in (PASS, SKIP):
        assert streamed.count(outcome) == whole.count(outcome)
    kept = replay_path(SYNTHETIC, spec, Rules(), keep_all=True)
    assert [v.outcome for v in kept.verdicts] == [v.outcome for v in whole.verdicts]


def test_the_target_digest_stops_at_the_answers_it_needs_and_damage_is_told_once(
        tmp_path: Path) -> None:
    lines = SYNTHETIC.read_bytes().splitlines(keepends=True)
    path = tmp_path / "damaged.jsonl"
    path.write_bytes(b"".join([*lines[:8], b"not json\n", *lines[8:]]))
    digest = target_digest(path)
    assert [e.endpoint for e in digest.exchanges][:2] == ["Plugin.Activate",
                                                          "IpamDriver.GetCapabilities"]
    assert digest.damage == ()  # it stopped before the damaged line
    heard = _Heard()
    result = replay_path(path, parse_target("builtin"), Rules(), listener=heard)
    skipped = [warning for kind, warning in heard.events if kind == "skipped"]
    assert skipped == list(result.warnings) and "damaged.jsonl:9: not a JSON record" in \
        skipped[0]
    assert heard.events[0][0] == "started"
    assert len(result.verdicts) == sum(1 for line in lines if b'"type":"exchange"' in line)


def test_records_other_than_exchanges_skip_exchange_lines_unread() -> None:
    with RecordingReader(SYNTHETIC) as reader:
        everything = [r for r, e in reader if e is None]
    with RecordingReader(SYNTHETIC) as reader:
        others = list(reader.others())
    assert others == everything and others


def test_random_concurrency_keeps_the_streamed_sections(tmp_path: Path) -> None:
    """Answers that came back out of order (as a file of concurrent calls holds them) give
    the sections of the numbers' order."""
    recording = rec.load(TALK)
    shuffled = list(recording.exchanges)
    random.Random(14).shuffle(shuffled)
    streamed = list(infer.stream_sections(shuffled, recording.markers()))
    assert _shape(streamed) == _shape(infer.sections(recording))


@given(st.lists(st.lists(st.sampled_from(["", "a", "\n", "b\n", "\n\n", " "]), max_size=4),
                max_size=6))
def test_pieces_join_to_the_joined_text(groups: list[list[str]]) -> None:
    whole = "\n".join(line for group in groups for line in group).rstrip("\n") + "\n"
    assert "".join(joined(groups)) == whole


def test_the_streamed_merge_is_the_loaded_merge() -> None:
    from ipamx_spy.multihost.merge import merge, stream_merged
    from ipamx_spy.multihost.rules import cross_host_findings
    from ipamx_spy.validate import check_merged

    paths = sorted((ROOT / "docs" / "swarm").glob("*.jsonl"))
    merged = merge([rec.load(p) for p in paths])
    loaded = [(merged.lanes[e.seq], e) for e in merged.recording.exchanges]
    streamed = list(stream_merged(paths))
    assert [(h, e.seq, e.t, e.conn, e.endpoint) for h, e in streamed] == \
        [(h, e.seq, e.t, e.conn, e.endpoint) for h, e in loaded]
    assert len(streamed) > 30 and len({h for h, _ in streamed}) == 3
    report = check_merged(paths)
    assert report.findings == tuple(cross_host_findings(loaded))
    assert report.exchanges == len(loaded)


def test_a_header_with_a_lone_surrogate_is_read_with_the_escape_as_text(tmp_path: Path) -> None:
    """Found by the reader fuzz: a header string UTF-8 cannot hold failed the mitm export
    (every flow carries the header); it is read as the text of its escape."""
    lines = SYNTHETIC.read_bytes().split(b"\n", 1)
    path = tmp_path / "surrogate.jsonl"
    path.write_bytes(lines[0][:-1] + b', "source": "\\ud800!"}\n' + lines[1])
    with RecordingReader(path) as reader:
        assert reader.header["source"] == "\\ud800!"
    trace = open_trace([path])
    assert b"".join(export_chunks("mitm", trace))
