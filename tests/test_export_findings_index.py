"""Findings are indexed by exchange (issue #14): with a finding on every exchange, an export
asks for each exchange's findings without scanning the list of findings each time (a scan
per exchange made ``export`` quadratic). Checked by counting the passes over the list, in
every format, of a loaded trace and of a streamed one; no timing."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from memory_peak import TALK, repeated

from ipamx_spy import recording
from ipamx_spy.export import FORMATS, STREAM_FORMATS, build_trace
from ipamx_spy.export.stream import (
    TEXT_STREAMS,
    StreamedTrace,
    export_chunks,
    export_pieces,
    open_trace,
)
from ipamx_spy.findings import Finding, Severity

EXCHANGES = 60
PASSES_ALLOWED = 8  # a format reads the list a few times in all (counts, its own list)
LAST = f"finding-{EXCHANGES}-of-the-test"  # the last exchange's finding, in the output
NO_FINDINGS = {"mermaid"}  # a sequence diagram shows no findings


class Counted(tuple[Finding, ...]):
    """The findings, counting every pass over them."""

    passes = 0

    def __iter__(self) -> Iterator[Finding]:
        type(self).passes += 1
        return super().__iter__()


def _one_per_exchange() -> Counted:
    Counted.passes = 0
    return Counted(Finding(code="IPX900", severity=Severity.WARNING, seq=seq,
                           message=f"finding-{seq}-of-the-test")
                   for seq in range(1, EXCHANGES + 1))


@pytest.fixture(scope="module")
def path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return repeated(TALK, EXCHANGES, tmp_path_factory.mktemp("f") / "talk.jsonl")


@pytest.mark.parametrize("name", list(FORMATS))
def test_a_loaded_trace_reads_its_findings_through_the_index(name: str, path: Path) -> None:
    trace = dataclasses.replace(build_trace(recording.load(path)),
                                findings=_one_per_exchange())
    text = FORMATS[name](trace)
    assert name in NO_FINDINGS or LAST in text
    assert Counted.passes <= PASSES_ALLOWED, Counted.passes


@pytest.mark.parametrize("name", [*TEXT_STREAMS, *STREAM_FORMATS])
def test_a_streamed_trace_reads_its_findings_through_the_index(name: str, path: Path) -> None:
    trace = open_trace([path])
    assert isinstance(trace, StreamedTrace)
    found = _one_per_exchange()
    trace._shown_findings = {f.seq: (f,) for f in found}  # what open_trace indexes
    trace.findings = found
    Counted.passes = 0
    if name in STREAM_FORMATS:
        out = b"".join(export_chunks(name, trace)).decode("utf-8", "replace")
    else:
        out = "".join(export_pieces(name, trace))
    assert name in NO_FINDINGS or LAST in out
    assert Counted.passes <= PASSES_ALLOWED, Counted.passes
