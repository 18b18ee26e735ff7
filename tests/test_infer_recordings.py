"""Inference checked against real captures: recordings/*.jsonl were made through the proxy
from dockerd 20.10.24 with a marker before each docker command. With the markers ignored,
inference must start a section wherever a marker did, and name the same kind of command."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipamx_spy import recording as rec
from ipamx_spy.infer import INFERRED, infer

RECORDINGS = sorted((Path(__file__).parent.parent / "recordings").glob("*.jsonl"))

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


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: p.stem)
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
