"""The live view shows inferred sections as the exchanges arrive (not only markers), checked
with real captures fed one exchange at a time."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from ipamx_spy import recording as rec
from ipamx_spy.filters import parse
from ipamx_spy.infer import LiveSections, infer
from ipamx_spy.live import LiveView

ROOT = Path(__file__).resolve().parent.parent


def rules(path: Path, **view: object) -> list[str]:
    """The ``────`` lines of a compact live view fed the capture's records in order."""
    out = io.StringIO()
    live = LiveView(console=Console(file=out, width=200, color_system=None),
                    diagnostics=Console(file=io.StringIO()), mode="compact",
                    **view)  # type: ignore[arg-type]
    for exchange in sorted(rec.load(path).exchanges, key=lambda e: e.seq):
        live.on_record(exchange.to_json(), exchange, [])
    return [line for line in out.getvalue().splitlines() if line.startswith("────")]


def test_each_command_of_a_burst_gets_its_heading() -> None:
    assert rules(ROOT / "tests" / "captures" / "create-burst.jsonl") == [
        "──── plugin activation (inferred) ────",
        "──── docker network create (inferred) ────",
        "──── docker network create — failed (inferred) ────",
        "──── container start (inferred) ────",
        "──── container stop (inferred) ────",
        # the gateway's release is known as the gateway's (its address role), so it is not
        # read as a container stop: docker network rm's heading covers it from #9 on
        "──── docker network rm (inferred) (from #9) ────",
    ]


def test_a_heading_is_revised_when_later_calls_change_the_reading() -> None:
    """docker network connect starts with EndpointOperInfo, which alone reads as nothing."""
    shown = rules(ROOT / "recordings" / "netdriver-lifecycle.jsonl")
    connect = shown.index("──── docker network connect (inferred) (from #23) ────")
    assert shown[connect - 1] == "──── container start (inferred) ────"  # #24 alone, so far
    assert "──── docker network disconnect (inferred) (from #30) ────" in shown
    assert not any("no recognised" in line for line in shown)  # half-seen commands wait


def test_the_live_headings_end_as_the_recordings_sections() -> None:
    """Whatever was shown on the way, the last heading of each burst is what ``show`` says."""
    for path in [ROOT / "recordings" / "talk.jsonl", ROOT / "scenarios" / "captures" /
                 "connect-order.jsonl", ROOT / "recordings" / "dockerd-28.5" / "errors.jsonl"]:
        exchanges = sorted(rec.load(path).exchanges, key=lambda e: e.seq)
        live = LiveSections()
        last: dict[int, str] = {}
        for exchange in exchanges:
            live.add(exchange)
            assert live.current is not None
            last[live.current.seqs[0]] = live.current.heading
        final = {s.seqs[0]: s.heading for s in infer(exchanges)}
        assert {k: v for k, v in last.items() if k in final} == final, path


def test_a_filter_on_an_inferred_section_works_live() -> None:
    shown = rules(ROOT / "tests" / "captures" / "create-burst.jsonl",
                  filter=parse('~sec "container start"'))
    assert shown == ["──── container start (inferred) ────"]


def test_after_a_marker_the_marker_names_the_section() -> None:
    out = io.StringIO()
    live = LiveView(console=Console(file=out, width=200, color_system=None),
                    diagnostics=Console(file=io.StringIO()), mode="compact")
    live.on_record({"type": "marker", "text": "docker run c1", "t": 0.0, "after_seq": 0}, None)
    for exchange in rec.load(ROOT / "recordings" / "talk.jsonl").exchanges:
        live.on_record(exchange.to_json(), exchange, [])
    assert [line for line in out.getvalue().splitlines() if line.startswith("────")] == [
        "──── docker run c1 ────"]
