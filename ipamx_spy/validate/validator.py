"""The validator: a sans-IO object that judges exchanges one by one, live or offline.

``Validator.check(exchange)`` returns the findings about one exchange as soon as it completes
(the proxy shows them inline); it keeps the session state that rules across exchanges need,
so feed it every exchange of one dockerd/plugin pair, in order. ``on_close`` reports requests
left unanswered when a connection closes. ``check_recording`` runs a whole recording.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ipamx_spy.findings import Finding
from ipamx_spy.recording import Exchange, Recording, RecordingError, load
from ipamx_spy.recording_reader import problem_text

from . import fields, framing
from .context import Context
from .rules import finding
from .session import PluginHistory
from .transport import Transport

SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def _major(version: object) -> int:
    """The major number of a Docker version string ('20.10.24' -> 20); 29 when unknown."""
    head = str(version or "").lstrip("v").split(".", 1)[0]
    return int(head) if head.isdigit() else 29


class Validator:
    """Checks each exchange against the endpoint table and the session so far.

    ``slow_ms``: answers slower than this get IPX401. ``docker_version`` (e.g. ``"20.10"``)
    picks the response types dockerd decodes (a field added in v28 is ignored by older daemons).
    """

    def __init__(self, slow_ms: float = 1000.0, *, docker_version: str | None = None) -> None:
        self.major = _major(docker_version)
        self.history = PluginHistory()
        self.transport = Transport(slow_ms=slow_ms)
        self.findings: list[Finding] = []

    def check(self, exchange: Exchange) -> list[Finding]:
        """The findings about one exchange, in the order of the rule table."""
        ctx = Context(exchange, self.major)
        found = self.transport.check(ctx)
        if ctx.row is None:
            found.append(finding("IPX001", exchange.seq, (
                f"{exchange.endpoint} is not part of the libnetwork plugin protocol: dockerd "
                "never sends it")))
        elif not ctx.row.extension:
            if ctx.answered:
                for check in framing.CHECKS + fields.CHECKS:
                    found += check(ctx)
            found += self.history.check(ctx)
        found.sort(key=lambda f: f.code)
        self.findings += found
        return found

    def on_close(self, conn: int, t: float, unanswered: bool | Sequence[int] = (),
                 endpoint: str = "") -> list[Finding]:
        """A docker-side connection closed; ``unanswered`` lists the requests (seqs) that were
        still waiting for an answer (``True`` when their seqs are unknown)."""
        seqs = [0] if unanswered is True else list(unanswered or ())
        found = [self.transport.unanswered(seq, endpoint, f" (connection c{conn} closed)")
                 for seq in seqs if seq == 0 or seq not in self.transport.reported]
        self.findings += found
        return found


def check_recording(rec: Recording, **opts: Any) -> list[Finding]:
    """Every finding of a recording. ``opts`` go to ``Validator`` (``slow_ms``,
    ``docker_version``; the version defaults to the header's ``docker_version``)."""
    opts.setdefault("docker_version", rec.header.get("docker_version"))
    validator = Validator(**opts)
    by_seq = {e.seq: e for e in rec.exchanges}
    for record in rec.records:
        kind = record.get("type")
        if kind == "exchange":
            validator.check(by_seq[int(record["seq"])])
        elif kind == "close" and record.get("unanswered"):
            validator.on_close(int(record.get("conn", 0)), float(record.get("t", 0.0)),
                               record["unanswered"])
    return validator.findings


@dataclass(frozen=True, kw_only=True)
class FileReport:
    """The findings of one recording file (or why it could not be read)."""

    path: Path
    findings: tuple[Finding, ...] = ()
    exchanges: int = 0
    endpoints: dict[int, str] = field(default_factory=dict)
    error: str | None = None
    warnings: tuple[str, ...] = ()

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)


def expand(paths: Iterable[Path]) -> list[Path]:
    """Files as given; directories become their ``*.jsonl`` files, sorted."""
    out: list[Path] = []
    for path in paths:
        out += sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    return out


def check_file(path: Path, **opts: Any) -> FileReport:
    """Check one recording file; an unreadable file is reported, not raised."""
    try:
        rec = load(path)
    except (OSError, RecordingError) as exc:
        return FileReport(path=path, error=problem_text(path, exc))
    found = check_recording(rec, **opts)
    return FileReport(path=path, findings=tuple(found), exchanges=len(rec.exchanges),
                      endpoints={e.seq: e.endpoint for e in rec.exchanges},
                      warnings=tuple(str(d) for d in rec.damage))
