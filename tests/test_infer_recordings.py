"""Inference checked against real captures: recordings/ were made through the proxy from
dockerd 20.10.24, 26.1.5 and 28.5.2 with a marker before each docker command. With the markers
ignored, inference must start a section wherever a marker did, and name the same kind of
command. scenarios/captures/ (a script's docker commands, no markers) and tests/captures/
(Engine API calls back to back, ``scripts/record_bursts.py``) check commands that follow each
other within milliseconds."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipamx_spy import recording as rec
from ipamx_spy.infer import INFERRED, infer

ROOT = Path(__file__).parent.parent
RECORDINGS = sorted((ROOT / "recordings").glob("**/*.jsonl"))
UNMARKED = sorted([*(ROOT / "scenarios" / "captures").glob("*.jsonl"),
                   *(ROOT / "tests" / "captures").glob("*.jsonl")])

# marker text prefix -> the command inference should name
KINDS = {
    "docker network create": "docker network create",
    "docker run": "container start",
    "docker stop": "container stop",
    "docker rm -f": "container stop",
    "docker network rm": "docker network rm",
}


def kind_of(text: str) -> str | None:
    return next((kind for prefix, kind in KINDS.items() if text.startswith(prefix)), None)


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_inference_agrees_with_the_markers(path: Path) -> None:
    recording = rec.load(path)
    exchanges = sorted(recording.exchanges, key=lambda e: e.seq)
    sections = infer(exchanges)
    assert all(s.source == INFERRED for s in sections), "every call should be explained"
    starts = {s.seqs[0]: s for s in sections}
    checked = 0
    for marker in recording.markers():
        first = int(marker["after_seq"]) + 1
        kind = kind_of(str(marker["text"]))
        if kind is None or not any(e.seq == first for e in exchanges):
            continue
        assert first in starts, f"no inferred section starts at #{first} ({marker['text']})"
        section = starts[first]
        if section.title == "plugin activation":  # the first use of the plugin
            section = next(s for s in sections if s.seqs[0] > first)
        assert section.title == kind, f"#{first}: {marker['text']!r}"
        checked += 1
    if recording.markers():
        assert checked, "no marker named a docker command this test knows"


@pytest.mark.parametrize("path", UNMARKED, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_call_of_a_script_is_explained(path: Path) -> None:
    sections = infer(sorted(rec.load(path).exchanges, key=lambda e: e.seq))
    assert [s.seqs for s in sections if s.source != INFERRED] == []


def headings(path: Path) -> list[tuple[str, tuple[int, ...]]]:
    exchanges = sorted(rec.load(path).exchanges, key=lambda e: e.seq)
    return [(s.heading, s.seqs) for s in infer(exchanges)]


def test_a_run_with_ip_right_after_create_is_no_aux_address() -> None:
    """scenarios/captures/talk.jsonl: ``docker run --ip 10.4.4.21`` 52 ms after the network's
    gateway looked like an --aux-address; its release, by ``docker stop``, tells it apart."""
    assert headings(ROOT / "scenarios" / "captures" / "talk.jsonl") == [
        ("plugin activation (inferred)", (1, 2, 3, 4)),
        ("docker network create (inferred)", (5, 6)),
        ("container start (inferred)", (7,)),
        ("container start (inferred)", (8,)),
        ("container stop (inferred)", (9,)),
        ("container stop (inferred)", (10,)),
        ("docker network rm (inferred)", (11, 12)),
    ]


def test_a_good_and_a_failed_create_back_to_back_stay_apart() -> None:
    """tests/captures/create-burst.jsonl: the second create's RequestPool fails 45 ms after the
    first create's gateway; the first pool is never given back, so it is no rollback."""
    path = ROOT / "tests" / "captures" / "create-burst.jsonl"
    assert headings(path) == [
        ("plugin activation (inferred)", (1, 2, 3)),
        ("docker network create (inferred)", (4, 5)),
        ("docker network create — failed (inferred)", (6,)),
        ("container start (inferred)", (7,)),
        ("container stop (inferred)", (8,)),
        ("docker network rm (inferred)", (9, 10)),
    ]
    start = infer(sorted(rec.load(path).exchanges, key=lambda e: e.seq))[3]
    assert start.detail == "address 10.70.0.9/24 (asked for 10.70.0.9 with --ip)"


def test_a_slow_program_external_connectivity_stays_with_its_run() -> None:
    """recordings/dockerd-28.5/netdriver-lifecycle.jsonl: 28.5 calls it 0.3 s after Join."""
    found = headings(ROOT / "recordings" / "dockerd-28.5" / "netdriver-lifecycle.jsonl")
    assert ("container start (inferred)", (14, 15, 16, 17, 18)) in found


def test_failed_commands_back_to_back_stay_apart_and_keep_only_their_own_rollback() -> None:
    """tests/broken/plugin-errors.jsonl (dockerd 20.10.24, a plugin failing on cue, one command
    after another as scenarios/plugin-errors.scenario runs them): a failed RequestPool ends its
    create, so the next create's pool is not its own; and a failed create is not handed the
    releases of the ``docker network rm`` that follows it."""
    failed_create = "docker network create — failed (inferred)"
    assert headings(ROOT / "tests" / "broken" / "plugin-errors.jsonl") == [
        ("plugin activation (inferred)", (1, 2, 3, 4)),
        ("docker network create (inferred)", (5, 6, 7)),
        (failed_create, (8, 9, 10, 11, 12, 13, 14)),  # CreateNetwork fails: gw, aux, pool back
        (failed_create, (15, 16, 17)),  # the gateway fails: the pool back
        ("container start — failed (inferred)", (18,)),
        ("container start — failed (inferred)", (19, 20, 21)),
        ("container start — failed (inferred)", (22, 23, 24, 25, 26)),
        (failed_create, (27,)),
        ("docker network create (inferred)", (28, 29, 30)),
        (failed_create, (31,)),
        (failed_create, (32, 33, 34)),
        (failed_create, (35,)),
        (failed_create, (36,)),
        ("docker network rm (inferred)", (37, 38, 39)),
    ]
