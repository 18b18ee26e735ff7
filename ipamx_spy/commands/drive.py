"""``ipamx-spy drive SCENARIO --target TARGET``: play docker commands against a plugin as dockerd.

Exit codes: 0 every command ended as the scenario expects (and ``--check`` found no error),
1 otherwise, 2 when the scenario, the target or an option is unusable.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from ipamx_spy import render
from ipamx_spy.console import err, out
from ipamx_spy.dockerd.versions import VERSION_ROWS, UnknownVersion, VersionRow, lookup
from ipamx_spy.emulator import scenario
from ipamx_spy.emulator.compare import compare
from ipamx_spy.emulator.driver import StepResult, Target, recording_header
from ipamx_spy.emulator.play import (
    Observer,
    PlayOptions,
    PlayTally,
    play_scenario,
    scenario_checker,
)
from ipamx_spy.findings import Finding
from ipamx_spy.recording import Exchange
from ipamx_spy.recording_reader import problem_text
from ipamx_spy.recordmodes import scenario_target

from .errors import open_recording, open_writer
from .options import IGNORE_RULE_HELP, switches_from


def _fail(message: str) -> typer.Exit:
    err.print(Text(f"ipamx-spy drive: {message}", style="bold red"))
    return typer.Exit(2)


def _target(text: str, version: VersionRow) -> Target:
    try:
        return scenario_target(text, version)
    except (ValueError, OSError) as exc:
        raise _fail(str(exc)) from exc


def _print_command(step: scenario.Step) -> None:
    prefix = "! " if step.expect_failure else ""
    out.print(Text(f"$ {prefix}{step.text}", style="bold"), soft_wrap=True)


def _exchange_printer(every: bool) -> Callable[[Exchange, Sequence[Finding]], None]:
    """Prints each plugin exchange with ``--exchanges``, else those the validator flagged."""
    def print_exchange(exchange: Exchange, found: Sequence[Finding]) -> None:
        if every or found:
            out.print(render.compact_line(exchange, found), soft_wrap=True)
            for f in found:
                out.print(Text(f"    {f.code} {f.severity}: {f.message}",
                               style=render.SEVERITY_STYLE[f.severity]), soft_wrap=True)
    return print_exchange


def _print_result(result: StepResult) -> None:
    for line in result.outcome.stdout:
        out.print(line, soft_wrap=True, highlight=False)
    for line in result.outcome.stderr:
        out.print(Text(line, style="red"), soft_wrap=True)
    if not result.as_expected:
        wanted = "to fail" if result.step.expect_failure else "to succeed"
        out.print(Text(f"  ✗ expected {wanted} (exit code {result.outcome.exit_code})",
                       style="bold red"))


def _compare(steps: list[scenario.Step], path: Path, version: VersionRow) -> None:
    rec = open_recording(path)
    result = compare(steps, rec, version=version)
    if result.equal:
        out.print(Text(f"all {result.emulated} requests equal the recording byte for byte",
                       style="bold green"))
        return
    out.print(result.report(), highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    @app.command("drive")
    def drive(
        scenario_file: Annotated[Path, typer.Argument(
            metavar="SCENARIO", help="Scenario file: docker commands, one per line.")],
        target: Annotated[str, typer.Option(
            "--target", "-t", help="Plugin address: socket path, unix://, tcp://, a plugin "
            "name, or 'builtin' (ipamx-spy's allocator and network driver, in-process, with "
            "pretend links).")] = "builtin",
        docker_version: Annotated[str, typer.Option(
            "--docker-version", help=f"dockerd to imitate: {', '.join(VERSION_ROWS)}.")] = "20.10",
        record: Annotated[Path | None, typer.Option(
            "--record", help="Write the session as a recording (JSON Lines).")] = None,
        exchanges: Annotated[bool, typer.Option(
            "--exchanges", "-x", help="Show each plugin exchange under its command.")] = False,
        check: Annotated[bool, typer.Option(
            "--check", help="Validate every exchange; errors make the exit code 1.")] = False,
        exec_root: Annotated[str, typer.Option(
            "--exec-root", help="dockerd's --exec-root (SandboxKey paths).")] = "/var/run/docker",
        host_routes: Annotated[bool, typer.Option(
            "--host-routes/--no-host-routes",
            help="Re-request dynamic pools that overlap this host's routes, as dockerd "
                 "does.")] = True,
        seed: Annotated[int | None, typer.Option(
            "--seed", help="Seed for ids, MACs and names (repeatable runs).")] = None,
        against: Annotated[Path | None, typer.Option(
            "--compare", help="Instead of a target, compare with this recording of real "
                              "dockerd: same answers, same ids, same request bytes?")] = None,
        ignore_rule: Annotated[list[str] | None, typer.Option(
            "--ignore-rule", metavar="CODE", help=IGNORE_RULE_HELP)] = None,
    ) -> None:
        """Play a scenario of docker commands against a plugin, sending exactly what dockerd
        sends, and print what the docker command would have printed."""
        try:
            version = lookup(docker_version)
            steps = scenario.load(scenario_file)
        except (UnknownVersion, scenario.ScenarioError) as exc:
            raise _fail(str(exc)) from exc
        except OSError as exc:
            raise _fail(problem_text(scenario_file, exc, "scenario")) from exc
        if against is not None:
            _compare(steps, against, version)
            return
        plugin = _target(target, version)
        checker = scenario_checker(version, check, switches_from(ignore_rule or []))
        writer = None if record is None else open_writer(record, recording_header(
            scenario=str(scenario_file), version=version, target=plugin.address))
        try:
            tally = play_scenario(
                steps, plugin, version, observer=Observer(
                    command=_print_command, exchange=_exchange_printer(exchanges),
                    result=_print_result), checker=checker,
                writer=writer, options=PlayOptions(exec_root=exec_root, seed=seed,
                                                   host_routes=host_routes))
        except OSError as exc:
            raise _fail(f"recording failed: {exc}") from exc
        finally:
            if writer is not None:
                writer.close()
        _summarise(tally)


def _summarise(tally: PlayTally) -> None:
    err.print(f"{len(tally.results)} commands, {tally.calls} plugin calls, "
              f"{tally.unexpected} not as expected"
              + (f", {tally.errors} validation errors" if tally.checked else ""))
    if tally.unexpected or tally.errors:
        raise typer.Exit(1)
