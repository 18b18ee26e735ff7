"""``ipamx-spy check REC...``: validate recordings offline.

Exit codes: 0 no error-severity finding, 1 at least one error, 2 a file could not be read.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from ipamx_spy import project
from ipamx_spy.console import out
from ipamx_spy.findings import Severity
from ipamx_spy.render import SEVERITY_STYLE, plural
from ipamx_spy.switches import RuleSwitches
from ipamx_spy.validate import RULES, FileReport
from ipamx_spy.validate.validator import SEVERITY_ORDER, check_files

from .errors import complain, fail, recording_paths, warn
from .options import FILTER_HELP, IGNORE_RULE_HELP, filter_from, switches_from, usage_error

if TYPE_CHECKING:
    from ipamx_spy.filters import Filter  # the filter language: imported only for a --filter


def _report_json(reports: list[FileReport]) -> str:
    files = [{
        "path": str(r.path),
        "exchanges": r.exchanges,
        "error": r.error,
        "warnings": list(r.warnings),
        "findings": [{**f.to_json(), "endpoint": r.endpoints.get(f.seq, "")}
                     for f in r.findings],
    } for r in reports]
    summary = {s: sum(r.count(s) for r in reports) for s in SEVERITY_ORDER}
    return json.dumps({"recordings": files, "summary": summary}, ensure_ascii=False, indent=1)


def _print_report(report: FileReport) -> None:
    if report.error is not None:
        complain(report.error)
        return
    for warning in report.warnings:
        warn(warning)
    counts = ", ".join(plural(report.count(s), s) for s in SEVERITY_ORDER if report.count(s))
    out.print(Text(f"{report.path}: {plural(report.exchanges, 'exchange')}, "
                   f"{counts or 'no findings'}",
                   style="bold"))
    for f in report.findings:
        line = Text(f"  #{f.seq} " if f.seq else "  ")
        line.append(f"{report.endpoints.get(f.seq, '')} ", style="cyan")
        line.append(f"{f.code} {f.severity}", style=SEVERITY_STYLE[f.severity])
        line.append(f"  {f.message}")
        out.print(line, soft_wrap=True)


def _check_options(min_severity: str, slow_ms: float,
                   docker_version: str | None) -> tuple[int, dict[str, object]]:
    """The lowest severity shown, and the validator's options."""
    if min_severity not in SEVERITY_ORDER:
        fail(f"check: --min-severity must be one of {', '.join(SEVERITY_ORDER)}")
    opts: dict[str, object] = {"slow_ms": slow_ms}
    if docker_version:
        opts["docker_version"] = docker_version
    return Severity(min_severity).rank, opts


def _render(reports: list[FileReport], as_json: bool) -> None:
    """Print the reports; exit 2 when a file could not be read, 1 when it holds an error."""
    if as_json:
        typer.echo(_report_json(reports))
    else:
        for report in reports:
            _print_report(report)
    if any(r.error for r in reports):
        raise typer.Exit(2)
    if any(r.count(Severity.ERROR) for r in reports):
        raise typer.Exit(1)


def _settings(filters: list[str], ignore_rules: list[str]) -> tuple[Filter | None, RuleSwitches]:
    """Filter and rule switches: the options, then ``[tool.ipamx-spy]`` of the project."""
    try:
        settings = project.load()
    except (project.ProjectError, OSError) as exc:
        raise usage_error(str(exc)) from None
    given = filters or ([settings.filter] if settings.filter else [])
    return filter_from(given), switches_from([*settings.ignore_rules, *ignore_rules])


def _print_codes() -> None:
    from ipamx_spy.multihost.rules import CROSS_HOST_RULES

    for rule in (*RULES.values(), *CROSS_HOST_RULES.values()):
        line = Text(f"{rule.code} ")
        line.append(f"{rule.severity:<7}", style=SEVERITY_STYLE[rule.severity])
        line.append(f" {rule.title}")
        out.print(line)


def register(app: typer.Typer) -> None:
    @app.command("check")
    def check(
        recordings: Annotated[list[Path] | None, typer.Argument(
            help="Recording files (*.jsonl) or directories of them.", show_default=False)] = None,
        as_json: Annotated[bool, typer.Option(
            "--json", help="Print findings as JSON on stdout.")] = False,
        slow_ms: Annotated[float, typer.Option(
            "--slow-ms", help="Flag answers slower than this many milliseconds.")] = 1000.0,
        docker_version: Annotated[str | None, typer.Option(
            "--docker-version",
            help="dockerd version whose decoding rules apply (default: the recording's "
                 "header, else the newest).")] = None,
        min_severity: Annotated[str, typer.Option(
            "--min-severity", help="Hide findings below this: error, warning or info.")] = "info",
        list_codes: Annotated[bool, typer.Option(
            "--codes", help="List the rules and exit.")] = False,
        merge: Annotated[bool, typer.Option(
            "--merge", help="The recordings are one per host: also merge them by wall-clock "
                            "time and apply the cross-host rules (IPX5xx).")] = False,
        filter_: Annotated[list[str] | None, typer.Option(
            "--filter", metavar="FILTER", help=FILTER_HELP)] = None,
        ignore_rule: Annotated[list[str] | None, typer.Option(
            "--ignore-rule", metavar="CODE", help=IGNORE_RULE_HELP)] = None,
    ) -> None:
        """Validate recordings: every exchange against the protocol, and the whole session."""
        if list_codes:
            _print_codes()
            return
        if not recordings:
            fail("check: give at least one recording or directory")
        limit, opts = _check_options(min_severity, slow_ms, docker_version)
        chosen, switches = _settings(filter_ or [], ignore_rule or [])
        reports = check_files(recording_paths(recordings), chosen=chosen, switches=switches,
                              limit=limit, merge=merge, **opts)
        _render(reports, as_json)
