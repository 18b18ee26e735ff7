"""The validator: a sans-IO object that judges exchanges one by one, live or offline.

``Validator.feed(record)`` takes the session's records one at a time, as the proxy writes them,
and returns the findings each brings; ``Validator`` is also a sink of the proxy session in its
own right (``on_record``). ``check(exchange)`` returns the findings about one exchange as soon
as it completes; ``on_close`` reports requests left unanswered when a connection closes. The
validator keeps the session state that rules across exchanges need, so feed it every record
of one dockerd/plugin pair, in order. ``check_recording`` runs a whole recording.

Cost: most exchanges are plain (``plain``) and take a fast lane that runs only the checks
that can still find something (the rules across exchanges, and the pool and address checks of
``RequestPool``/``RequestAddress``); ``bench/validator.py`` measures it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ipamx_spy import dockerd
from ipamx_spy.dockerd.ledger import AddressRoles
from ipamx_spy.findings import Finding, Severity
from ipamx_spy.recording import (
    Exchange,
    Recording,
    RecordingError,
    read_header,
    with_address_role,
)
from ipamx_spy.recording_reader import RecordingReader, problem_text
from ipamx_spy.records import RecordType
from ipamx_spy.switches import RuleSwitches

from . import fields, framing
from .context import CheckContext, PlainContext
from .plain import Shape, Shapes, plain
from .rules import finding
from .session import PluginHistory
from .transport import Transport

if TYPE_CHECKING:
    from ipamx_spy.filters import Filter

SEVERITY_ORDER = {severity: severity.rank for severity in Severity}


def _major(version: object) -> int:
    """The major number of a Docker version ('20.10.24' -> 20); the authority's default
    daemon's (``DockerVersion.or_default``) when ``version`` names none, as dockerd's
    verdicts read such a recording."""
    return dockerd.DockerVersion.or_default(version).major


class Validator:
    """Checks each exchange against the endpoint table and the session so far.

    ``slow_ms``: answers slower than this get IPX401. ``docker_version`` (e.g. ``"20.10"``)
    picks the response types dockerd decodes (a field added in v28 is ignored by older daemons).
    ``fast_lane=False`` runs every check on every exchange (the fast lane, ``plain``, finds the
    same; the switch is for the benchmark and the test that compares them).
    """

    def __init__(self, slow_ms: float = 1000.0, *, docker_version: str | None = None,
                 fast_lane: bool = True) -> None:
        self.major = _major(docker_version)
        self.fast_lane = fast_lane
        self.slow_ms = slow_ms
        self.shapes = Shapes(self.major)
        self.history = PluginHistory()
        self.transport = Transport(slow_ms=slow_ms)
        self.findings: list[Finding] = []
        self.roles = AddressRoles()  # what each release gives back (the verdict's log line)
        self.last_plain = False  # the last exchange checked took the fast lane (``plain``)

    def check(self, exchange: Exchange) -> list[Finding]:
        """The findings about one exchange, in the order of the rule table (exchanges in
        the session's order: a release is read as what the calls before it handed out)."""
        seen = plain(exchange, self.shapes, self.slow_ms) if self.fast_lane else None
        self.last_plain = seen is not None
        if seen is not None:
            return self._check_plain(exchange, *seen)
        # Only the full path words a verdict, the one reader of a release's role: the copy
        # carrying it is made here (the caller's exchange is not changed).
        return self._check_full(with_address_role(self.roles, exchange))

    def _check_plain(self, exchange: Exchange, shape: Shape,
                     value: dict[str, Any]) -> list[Finding]:
        """The fast lane (``plain``): only the checks that can still find something."""
        self.transport.seen(exchange, True)
        body = exchange.request.body
        request = body["json"] if body.get("encoding") == "json" else exchange.request.value
        # The follower sees every exchange; a plain one's role is not read (no verdict), so
        # the exchange is not copied to carry it. These are the values ``with_address_role``
        # passes: a plain answer is a 200 whose value is its stored JSON.
        self.roles.follow(exchange.endpoint, request, 200, value)
        ctx = PlainContext(exchange, shape.row, value, request)
        found = self.history.check(ctx)
        if shape.cidr is not None:  # RequestPool, RequestAddress: their checks need a Seen only
            for check in shape.row.answer_checks:
                found += fields.SPECIFIC[check](ctx)  # type: ignore[arg-type]
        if found:
            found.sort(key=lambda f: f.code)
            self.findings += found
        return found

    def _check_full(self, exchange: Exchange) -> list[Finding]:
        ctx = CheckContext(exchange, self.major)
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

    def feed(self, record: Mapping[str, Any], exchange: Exchange | None = None) -> list[Finding]:
        """One record of the session as the proxy writes it, in order: the findings it
        brings. ``exchange`` is the record's ``Exchange`` when the caller has built it
        already (else it is built here); records other than exchanges and closes with
        unanswered requests bring none. Raises ``RecordingError`` for an exchange record
        that is not one."""
        kind = record.get("type")
        if kind == RecordType.EXCHANGE:
            return self.check(exchange if exchange is not None else Exchange.from_json(
                dict(record)))
        if kind == RecordType.CLOSE and record.get("unanswered"):
            return self.on_close(int(record.get("conn", 0)), float(record.get("t", 0.0)),
                                 record["unanswered"])
        return []

    # The proxy session's sink interface (``proxy.Sink``): the validator as a sink of its own.

    def on_record(self, record: dict[str, Any], exchange: Exchange | None) -> None:
        self.feed(record, exchange)

    def on_waiting(self, seq: int, conn: int, endpoint: str, waited_s: float) -> None:
        """A request still waiting: no finding until it is answered or its connection
        closes."""

    def on_sink_error(self, message: str) -> None:
        """Another sink failed: nothing for the validator to do."""

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
        if record.get("type") == RecordType.EXCHANGE:
            validator.feed(record, by_seq[int(record["seq"])])
        else:
            validator.feed(record)
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

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)


def expand(paths: Iterable[Path]) -> list[Path]:
    """Files as given; directories become their ``*.jsonl`` files, sorted."""
    out: list[Path] = []
    for path in paths:
        out += sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    return out


def check_file(path: Path, **opts: Any) -> FileReport:
    """Check one recording file, read record by record (memory bounded by the findings, not
    by the exchanges); an unreadable file is reported, not raised. ``endpoints`` names the
    endpoint of each exchange a finding is about (of those only)."""
    try:
        reader = RecordingReader(path)
    except (OSError, RecordingError) as exc:
        return FileReport(path=path, error=problem_text(path, exc))
    endpoints: dict[int, str] = {}
    count = 0
    with reader:
        opts.setdefault("docker_version", reader.header.get("docker_version"))
        validator = Validator(**opts)
        for record, exchange in reader:
            found = validator.feed(record, exchange)
            if exchange is None:
                continue
            count += 1
            if exchange.seq in endpoints or any(f.seq == exchange.seq for f in found):
                endpoints[exchange.seq] = exchange.endpoint
        damage = tuple(str(d) for d in reader.damage)
    unnamed = {f.seq for f in validator.findings if f.seq and f.seq not in endpoints}
    if unnamed:  # findings about an earlier exchange (a request left unanswered): read again
        endpoints.update(_endpoints_of(path, unnamed))
    return FileReport(path=path, findings=tuple(validator.findings), exchanges=count,
                      endpoints=endpoints, warnings=damage)


def _endpoints_of(path: Path, seqs: set[int]) -> dict[int, str]:
    with RecordingReader(path) as reader:
        return {e.seq: e.endpoint for e in reader.exchanges() if e.seq in seqs}


def select_findings_in(path: Path, findings: Sequence[Finding],
                       chosen: Filter) -> list[Finding]:
    """``filters.select_findings`` of a recording file, read record by record: only the
    exchanges that have findings are judged (``filters.kept_in_file``)."""
    from ipamx_spy.filters import kept_in_file

    found: dict[int, tuple[Finding, ...]] = {}
    for item in findings:
        found[item.seq] = (*found.get(item.seq, ()), item)
    keep = kept_in_file(path, chosen, found)
    return [f for f in findings if f.seq == 0 or f.seq in keep]


def judged(report: FileReport, chosen: Filter | None, switches: RuleSwitches,
           limit: int) -> FileReport:
    """The report with only the findings the severity ``limit`` (a ``Severity.rank``), the
    rule switches and the filter keep."""
    kept = [f for f in switches.keep(report.findings) if SEVERITY_ORDER[f.severity] <= limit]
    if chosen is not None and report.error is None:
        kept = select_findings_in(report.path, kept, chosen)
    return replace(report, findings=tuple(kept))


def check_files(paths: Sequence[Path], *, chosen: Filter | None = None,
                switches: RuleSwitches = RuleSwitches(), limit: int = Severity.INFO.rank,
                merge: bool = False, **opts: Any) -> list[FileReport]:
    """``ipamx-spy check``: each file's report (``check_file``, then ``judged``) and, with
    ``merge`` and every file readable, the cross-host report of them merged."""
    reports = [judged(check_file(path, **opts), chosen, switches, limit) for path in paths]
    if merge and not any(r.error for r in reports):
        reports.append(judged(check_merged([r.path for r in reports]), None, switches, limit))
    return reports


def check_merged(paths: Sequence[Path]) -> FileReport:
    """The cross-host rules over the recordings merged into one timeline (one per host), read
    record by record (``multihost.merge.stream_merged``): the endpoint of each exchange a
    finding is about is looked up in a second merged read, only when there are findings."""
    from ipamx_spy.multihost.merge import host_names, stream_merged
    from ipamx_spy.multihost.rules import CrossHost

    walk, count = CrossHost(), 0
    findings: list[Finding] = []
    for host, exchange in stream_merged(paths):
        count += 1
        findings += walk.observe(host, exchange)
    about = {f.seq for f in findings}
    endpoints = {e.seq: f"{host} {e.endpoint}" for host, e in stream_merged(paths)
                 if e.seq in about} if about else {}
    hosts = host_names([Recording(header=read_header(p), records=(), path=p) for p in paths])
    label = Path(f"merged timeline of {', '.join(hosts)}")
    return FileReport(path=label, findings=tuple(findings), error=None, exchanges=count,
                      endpoints=endpoints)
