"""A merged timeline read as it is merged is the merged trace built whole, in every format."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from ipamx_spy import recording
from ipamx_spy.export import FORMATS, Selection
from ipamx_spy.export.mitm import export_mitm
from ipamx_spy.export.stream import export_chunks, export_pieces, open_trace
from ipamx_spy.multihost.streamed import MergedStreamedTrace
from ipamx_spy.multihost.timeline import build_merged_trace
from ipamx_spy.redact import parse_rules

ROOT = Path(__file__).resolve().parent.parent
RECORDINGS = sorted((ROOT / "recordings").glob("*.jsonl"))
GROUPS = [*itertools.combinations(RECORDINGS[:4], 2), tuple(RECORDINGS[2:5])]
SELECTIONS = [(Selection(), ()),
              (Selection(endpoints=("Request",)), ("**.Gateway", "header:User-Agent")),
              (Selection(errors=True), ())]


@pytest.mark.parametrize("paths", GROUPS, ids=lambda g: "+".join(p.stem for p in g))
def test_streamed_merge_exports_what_the_whole_merge_does(paths: tuple[Path, ...]) -> None:
    for selection, redactions in SELECTIONS:
        rules = parse_rules(list(redactions))
        whole = build_merged_trace([recording.load(p) for p in paths], selection=selection,
                                   rules=rules)
        streamed = open_trace(list(paths), selection=selection, rules=rules)
        assert isinstance(streamed, MergedStreamedTrace)
        assert streamed.hosts == whole.hosts and streamed.source == whole.source
        for name, export in FORMATS.items():
            assert "".join(export_pieces(name, streamed)) == export(whole), name
        assert b"".join(export_chunks("mitm", streamed)) == export_mitm(whole)


def test_the_merged_file_goes_with_the_trace() -> None:
    trace = open_trace(RECORDINGS[:2])
    assert isinstance(trace, MergedStreamedTrace)
    path = trace.path
    assert path.exists()
    del trace
    assert not path.exists()
