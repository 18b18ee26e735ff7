"""A merged trace of several hosts, ready for ``show``, ``export`` and ``check`` (sans-IO).

Sections are inferred per host (a docker command runs on one host: inference over the
interleaved calls of several would pair one host's RequestPool with another's RequestAddress)
and titled with the host; the validator runs per host; the cross-host rules run over the
whole timeline. Everything else is the ordinary trace of the merged recording.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ipamx_spy import infer, redact
from ipamx_spy.export.trace import Options, Selection, Trace, build_trace, check
from ipamx_spy.findings import Finding
from ipamx_spy.infer import Section
from ipamx_spy.recording import Recording

from .merge import Merged, lane_recording, merge
from .rules import cross_host_findings


def lane_sections(merged: Merged) -> list[Section]:
    """Each host's inferred sections, titled ``host: …``, in time order."""
    sections = []
    for host in merged.hosts:
        for section in infer.sections(lane_recording(merged, host)):
            sections.append(replace(section, title=f"{host}: {section.title}"))
    return sorted(sections, key=lambda s: (s.t, s.exchanges[0].seq if s.exchanges else 0))


def merged_findings(merged: Merged) -> list[Finding]:
    """The validator per host (its session rules assume one dockerd) and the cross-host rules."""
    findings: list[Finding] = []
    for host in merged.hosts:
        for finding in check(lane_recording(merged, host)):
            where = f"{host}: " if finding.seq == 0 else ""
            findings.append(replace(finding, message=where + finding.message))
    lanes = merged.lanes
    findings += cross_host_findings((lanes[e.seq], e) for e in merged.recording.exchanges)
    return sorted(findings, key=lambda f: f.seq)


def build_merged_trace(recordings: Sequence[Recording], *, selection: Selection = Selection(),
                       rules: Sequence[redact.RedactionRule] = (), options: Options = Options(),
                       validate: bool = True) -> Trace:
    """One trace with a lane per host. Raises ValueError when given no recording."""
    merged = merge(recordings)
    trace = build_trace(merged.recording, selection=selection, rules=rules, options=options,
                        validate=validate, sections_of=lambda _r: lane_sections(merged),
                        findings_of=lambda _r: merged_findings(merged), hosts=merged.hosts,
                        lanes=merged.lanes)
    names = [r.path.name if r.path else h for r, h in zip(recordings, merged.hosts, strict=True)]
    return replace(trace, source=" + ".join(names))
