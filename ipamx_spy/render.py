"""Rich renderings of exchanges: the live view, ``show`` and the SVG export all use these."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.json import JSON
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from . import dockerd
from .findings import Finding, Severity
from .recording import Exchange, Message
from .records import AnsweredBy
from .stats import EndpointStats, Summary

SEVERITY_STYLE = {Severity.ERROR: "bold red", Severity.WARNING: "yellow", Severity.INFO: "cyan"}


@dataclass(frozen=True, kw_only=True)
class View:
    """What to show of each exchange."""

    headers: bool = True
    bodies: bool = True
    annotation: bool = True


def status_style(exchange: Exchange) -> str:
    if exchange.fault is not None or exchange.response is None:
        return "bold red"
    if problem(exchange) is not None:
        return "red"
    return "green"


VERDICTS_KEPT = 4096
"""Exchanges ``verdict`` remembers at most (emptied when full): a reader that streams holds
them beside its windows, so they bound its memory as the windows do."""
_VERDICTS: dict[int, tuple[Exchange, dockerd.Verdict]] = {}
"""``verdict`` per exchange (by identity; the entry keeps the exchange, so its id stays its
own), for the last ``VERDICTS_KEPT``: reading an answer decodes it as Go does, and a streamed
export asks of each exchange several times (its section's inference, its problem, its
sentence, the summary) while it is in hand."""


def docker_version(exchange: Exchange) -> dockerd.DockerVersion:
    """The daemon the exchange was recorded against (its recording header's
    ``docker_version``); the authority's default when the header names none or names one
    that is not a version."""
    return dockerd.DockerVersion.or_default(exchange.docker_version)


def verdict(exchange: Exchange) -> dockerd.Verdict | None:
    """What dockerd made of the exchange's answer (None when there was no answer), read as
    the daemon of the exchange's recording (``docker_version``) reads it."""
    response = exchange.response
    if response is None:
        return None
    known = _VERDICTS.get(id(exchange))
    if known is not None and known[0] is exchange:
        return known[1]
    request = exchange.request.value
    found = dockerd.read_answer(exchange.endpoint, response.status, response.headers,
                                response.raw_body, docker_version(exchange),
                                request=request if isinstance(request, dict) else None,
                                role=exchange.address_role)
    if len(_VERDICTS) >= VERDICTS_KEPT:
        _VERDICTS.clear()
    _VERDICTS[id(exchange)] = (exchange, found)
    return found


def problem(exchange: Exchange) -> str | None:
    """The error dockerd sees in this exchange, or None when it succeeded. A failure dockerd
    only logged says so (the docker command went on)."""
    return _problem(exchange, verdict(exchange))


def _problem(exchange: Exchange, found: dockerd.Verdict | None) -> str | None:
    if exchange.fault is not None:
        return f"{exchange.fault.side} side: {exchange.fault.message}"
    if found is None:
        return "no answer"
    if found.outcome is dockerd.Outcome.LOGGED:
        line = found.shown_log_line
        logged = f", as: {line}" if line else ""
        return f"{found.error} (dockerd only logged it{logged}; the command went on)"
    return found.error


def only_logged(exchange: Exchange) -> bool:
    """A failure dockerd only logged (the docker command went on)."""
    found = verdict(exchange) if exchange.fault is None else None
    return found is not None and found.outcome is dockerd.Outcome.LOGGED


def annotation(exchange: Exchange) -> str:
    """The plain-words sentence for an exchange."""
    return _annotation(exchange, verdict(exchange))


def _annotation(exchange: Exchange, found: dockerd.Verdict | None) -> str:
    if found is None or exchange.fault is not None:
        text = dockerd.explain(exchange.endpoint, exchange.request.value)
        reason = exchange.fault.message if exchange.fault else "no answer"
        return f"{text}; it failed: {reason}"
    return dockerd.explain(exchange.endpoint, exchange.request.value, found)


@dataclass(frozen=True, kw_only=True)
class Reading:
    """What ``problem``, ``only_logged`` and ``annotation`` say of one exchange, from one
    reading of dockerd's verdict (decoding the answer as Go does is the dear part)."""

    problem: str | None
    only_logged: bool
    annotation: str


def read(exchange: Exchange) -> Reading:
    """``problem``, ``only_logged`` and ``annotation`` of ``exchange``, the verdict read once."""
    found = verdict(exchange)
    logged = (exchange.fault is None and found is not None
              and found.outcome is dockerd.Outcome.LOGGED)
    return Reading(problem=_problem(exchange, found), only_logged=logged,
                   annotation=_annotation(exchange, found))


def _status_text(exchange: Exchange) -> str:
    if exchange.response is None:
        return "---"
    return str(exchange.response.status)


def title(exchange: Exchange) -> Text:
    text = Text()
    text.append(f"#{exchange.seq} ", style="bold")
    text.append(f"{exchange.t:9.3f}s ", style="dim")
    text.append(f"c{exchange.conn} ", style="magenta")
    text.append(exchange.endpoint, style="bold cyan")
    text.append(f"  {_status_text(exchange)}", style=status_style(exchange))
    text.append(f"  {exchange.duration_ms:.1f} ms", style="dim")
    if exchange.answered_by == AnsweredBy.SPY:
        text.append("  (answered by ipamx-spy)", style="yellow")
    return text


def compact_line(exchange: Exchange, findings: Sequence[Finding] = ()) -> Text:
    """One line per exchange, for ``--compact``."""
    text = title(exchange)
    text.append("  ")
    text.append(annotation(exchange))
    for finding in findings:
        text.append(f"  [{finding.code}]", style=SEVERITY_STYLE[finding.severity])
    return text


def compact_block(exchange: Exchange, findings: Sequence[Finding] = ()) -> Text:
    """The live view's ``--compact`` entry: the line, wrapped at word boundaries by the
    console to the terminal's width, then each finding on a line of its own, in words."""
    text = title(exchange)
    text.append("  ")
    text.append(annotation(exchange))
    for finding in findings:
        text.append(f"\n    {finding.code} {finding.severity}: ",
                    style=SEVERITY_STYLE[finding.severity])
        text.append(finding.message)
    text.overflow = "fold"  # a word longer than the line (a long ID) is folded, not cut
    return text


def _headers(message: Message) -> Text:
    text = Text()
    if message.is_request:
        text.append(f"{message.method} {message.target} HTTP/{message.http_version}\n",
                    style="bold")
    else:
        text.append(f"HTTP/{message.http_version} {message.status} {message.reason}\n",
                    style="bold")
    for name, value in message.headers:
        text.append(f"{name}: ", style="blue")
        text.append(f"{value}\n" if value else "(empty)\n", style="" if value else "dim italic")
    return text


def body_renderable(message: Message) -> RenderableType:
    stored = message.body
    encoding = stored.get("encoding")
    if encoding == "empty":
        return Text("(empty body)", style="dim italic")
    if encoding == "json":
        return JSON.from_data(stored["json"], indent=2, ensure_ascii=False)
    if encoding == "text":
        return Text(str(stored["text"]))
    return Text(f"(binary, base64) {stored.get('base64', '')}", style="dim")


def _message_block(label: str, message: Message, view: View) -> list[RenderableType]:
    parts: list[RenderableType] = [Text(label, style="bold underline")]
    if view.headers:
        parts.append(_headers(message))
    if view.bodies:
        parts.append(body_renderable(message))
    return parts


def exchange_panel(
    exchange: Exchange,
    *,
    view: View = View(),
    findings: Sequence[Finding] = (),
    notes: Sequence[str] = (),
) -> Panel:
    """One block per exchange: title, plain words, headers, bodies, findings, notes."""
    parts: list[RenderableType] = []
    if view.annotation:
        parts.append(Text(annotation(exchange), style="italic"))
    request = Group(*_message_block("docker → plugin", exchange.request, view))
    if exchange.response is None:
        parts.append(request)
    else:
        response = Group(*_message_block("plugin → docker", exchange.response, view))
        parts.append(SideBySide(request, response))
    if exchange.fault is not None:
        parts.append(Text(f"fault ({exchange.fault.side} side, {exchange.fault.kind}): "
                          f"{exchange.fault.message}", style="bold red"))
    for finding in findings:
        parts.append(Text(f"{finding.code} {finding.severity}: {finding.message}",
                          style=SEVERITY_STYLE[finding.severity]))
    for note in notes:
        parts.append(Text(f"note: {note}", style="bold yellow"))
    return Panel(Group(*parts), title=title(exchange), title_align="left",
                 border_style=status_style(exchange))


class SideBySide:
    """Request and response next to each other on a wide console, one above the other else."""

    WIDE = 140

    def __init__(self, left: RenderableType, right: RenderableType) -> None:
        self.left = left
        self.right = right

    def __rich_console__(self, console: Console,
                         options: ConsoleOptions) -> RenderResult:
        if options.max_width < self.WIDE:
            yield self.left
            yield self.right
            return
        grid = Table.grid(expand=True, padding=(0, 2))
        grid.add_column(ratio=1)
        grid.add_column(ratio=1)
        grid.add_row(self.left, self.right)
        yield grid


def marker_rule(text: str) -> Text:
    return Text(f"──── {text} ────", style="bold yellow")


def inferred_rule(heading: str, first: int, seq: int) -> Text:
    """The live view's rule for an inferred section (``heading`` says "inferred"); ``first``
    before ``seq``: the calls from #first on now read as this command."""
    since = f" (from #{first})" if first < seq else ""
    return Text(f"──── {heading}{since} ────", style="yellow")


def plural(count: int, noun: str) -> str:
    """``1 exchange``, ``5 errors``: a count and its noun, in the right number."""
    if count == 1:
        return f"1 {noun}"
    return f"{count} {noun}es" if noun.endswith(("s", "x", "ch", "sh")) else f"{count} {noun}s"


def summary_of(exchanges: Iterable[Exchange]) -> Summary:
    """The per-endpoint aggregates of some exchanges."""
    summary = Summary()
    for exchange in exchanges:
        summary.add(exchange.endpoint, exchange.duration_ms, problem(exchange) is not None)
    return summary


def summary_table(exchanges: Iterable[Exchange] | Summary,
                  title_text: str = "ipamx-spy summary") -> Table:
    """Exchanges per endpoint (in the order of their first call), errors, latency p50/p99."""
    summary = exchanges if isinstance(exchanges, Summary) else summary_of(exchanges)
    table = Table(title=title_text)
    table.add_column("endpoint", style="cyan")
    table.add_column("calls", justify="right")
    table.add_column("errors", justify="right")
    table.add_column("p50 ms", justify="right")
    table.add_column("p99 ms", justify="right")
    for endpoint, stats in summary.rows():
        table.add_row(*_summary_row(endpoint, stats))
    if summary.endpoints:
        table.add_section()
        table.add_row(*_summary_row("total", summary.total()), style="bold")
    return table


def _summary_row(label: str, stats: EndpointStats) -> tuple[str, ...]:
    return (label, str(stats.calls), str(stats.errors) if stats.errors else "-",
            f"{stats.latencies.percentile(0.5):.2f}", f"{stats.latencies.percentile(0.99):.2f}")
