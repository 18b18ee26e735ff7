"""``ipamx-spy drive SCENARIO --target TARGET``: play docker commands against a plugin as dockerd.

A swarm scenario (``docker --context NODE ...``, ``swarm init``, ``service create``) plays one
emulated dockerd per node, each with its own plugin: ``--target NODE=ADDRESS`` (or one address,
or ``builtin``, for every node: the built-in plugin is then one per node), ``--record DIR``
writes ``DIR/NODE.jsonl`` per node, and ``--compare`` takes one recording per node (named by
their headers' ``host``).

Exit codes: 0 every command ended as the scenario expects (and ``--check`` found no error),
1 otherwise, 2 when the scenario, the target or an option is unusable.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from ipamx_spy import render
from ipamx_spy.console import err, out
from ipamx_spy.dockerd.versions import VERSION_ROWS, UnknownVersion, VersionRow, lookup
from ipamx_spy.emulator import scenario
from ipamx_spy.emulator.compare import Comparison, compare_path, compare_swarm
from ipamx_spy.emulator.driver import EmulatorTarget, StepResult, recording_header
from ipamx_spy.emulator.play import (
    CheckerFactory,
    Observer,
    PlayOptions,
    PlayTally,
    play_scenario,
    play_swarm,
    scenario_checker,
)
from ipamx_spy.emulator.swarm import node_names
from ipamx_spy.findings import Finding
from ipamx_spy.multihost.merge import host_names
from ipamx_spy.recording import Exchange, RecordingError, RecordingWriter
from ipamx_spy.recording_reader import problem_text
from ipamx_spy.recordmodes import scenario_target

from .errors import fail, open_recording, open_writer, report_damage
from .options import IGNORE_RULE_HELP, switches_from


def _fail(message: str) -> typer.Exit:
    err.print(Text(f"ipamx-spy drive: {message}", style="bold red"))
    return typer.Exit(2)


def _target(text: str, version: VersionRow) -> EmulatorTarget:
    try:
        return scenario_target(text, version)
    except (ValueError, OSError) as exc:
        raise _fail(str(exc)) from exc


def _print_command(step: scenario.Step) -> None:
    prefix = "! " if step.expect_failure else ""
    out.print(Text(f"$ {prefix}{step.text}", style="bold"), soft_wrap=True)


def _print_result(result: StepResult) -> None:
    for line in result.outcome.stdout:
        out.print(line, soft_wrap=True, highlight=False)
    for line in result.outcome.stderr:
        out.print(Text(line, style="red"), soft_wrap=True)
    for line in result.logged:  # dockerd's journal, not the docker command's output
        err.print(Text(f"  dockerd logs: {line}", style="dim"), soft_wrap=True, highlight=False)
    if not result.as_expected:
        wanted = "to fail" if result.step.expect_failure else "to succeed"
        out.print(Text(f"  ✗ expected {wanted} (exit code {result.outcome.exit_code})",
                       style="bold red"))


def _compare(steps: list[scenario.Step], paths: list[Path], version: VersionRow) -> None:
    if not scenario.is_swarm(steps):
        if len(paths) != 1:
            raise _fail("--compare takes one recording for a scenario of one daemon")
        result = _compare_path(steps, paths[0], version)
        if result.equal:
            out.print(Text(f"all {result.emulated} requests equal the recording byte for byte",
                           style="bold green"))
            return
        out.print(result.report(), highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    recordings = [open_recording(path) for path in paths]
    swarm = compare_swarm(steps, dict(zip(host_names(recordings), recordings, strict=True)),
                          version=version)
    if swarm.equal:
        total = sum(c.emulated for c in swarm.nodes.values())
        out.print(Text(f"all {total} requests of {len(swarm.nodes)} nodes equal their "
                       "recordings byte for byte", style="bold green"))
        return
    out.print(swarm.report(), highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _compare_path(steps: list[scenario.Step], path: Path, version: VersionRow) -> Comparison:
    """The comparison with one recording file, read as the requests come; an unusable file
    exits 2, each line it skips is warned about."""
    try:
        result = compare_path(steps, path, version=version)
    except (RecordingError, OSError) as exc:
        fail(problem_text(path, exc))
    report_damage(result.damage)
    return result


def _node_targets(texts: list[str], names: list[str],
                  version: VersionRow) -> dict[str, EmulatorTarget]:
    """``NODE=ADDRESS`` per node, or one address for every node (``builtin``: one each)."""
    named = dict(t.split("=", 1) for t in texts if "=" in t.split("/", 1)[0])
    plain = [t for t in texts if "=" not in t.split("/", 1)[0]]
    unknown = sorted(set(named) - set(names))
    if unknown or len(plain) > 1:
        raise _fail(f"--target: {', '.join(unknown)} is not a node of the scenario" if unknown
                    else "--target: give one address for every node, or NODE=ADDRESS")
    default = plain[0] if plain else "builtin"
    return {name: _target(named.get(name, default), version) for name in names}


def register(app: typer.Typer) -> None:
    @app.command("drive")
    def drive(
        scenario_file: Annotated[Path, typer.Argument(
            metavar="SCENARIO", help="Scenario file: docker commands, one per line.")],
        target: Annotated[list[str] | None, typer.Option(
            "--target", "-t", help="Plugin address: socket path, unix://, tcp://, a plugin "
            "name, or 'builtin' (ipamx-spy's allocator and network driver, in-process, with "
            "pretend links); NODE=ADDRESS per node of a swarm scenario. Default: "
            "builtin.")] = None,
        docker_version: Annotated[str, typer.Option(
            "--docker-version", help=f"dockerd to imitate: {', '.join(VERSION_ROWS)}.")] = "20.10",
        record: Annotated[Path | None, typer.Option(
            "--record", help="Write the session as a recording (JSON Lines); a directory "
                             "of NODE.jsonl for a swarm scenario.")] = None,
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
        against: Annotated[list[Path] | None, typer.Option(
            "--compare", help="Instead of a target, compare with this recording of real "
                              "dockerd (one per node of a swarm scenario): same answers, "
                              "same ids, same request bytes?")] = None,
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
        if against:
            _compare(steps, against, version)
            return
        checker = functools.partial(scenario_checker, version, check,
                                    switches_from(ignore_rule or []))
        observer = Observer(command=_print_command, exchange=_exchange_printer(exchanges),
                            result=_print_result)
        if scenario.is_swarm(steps):
            tally = _drive_swarm(steps, scenario_file, version, target or [], record,
                                 observer=observer, seed=seed, checker=checker)
        else:
            if target and len(target) > 1:
                raise _fail("--target takes one address for a scenario of one daemon")
            tally = _drive_one(steps, scenario_file, version, (target or ["builtin"])[0],
                               record, observer=observer, checker=checker,
                               options=PlayOptions(exec_root=exec_root, seed=seed,
                                                   host_routes=host_routes))
        _summarise(tally)


def _exchange_printer(every: bool) -> Callable[[Exchange, Sequence[Finding], str], None]:
    """Prints each plugin exchange with ``--exchanges``, else those the validator flagged,
    after the node it was made on in a swarm scenario."""
    def print_exchange(exchange: Exchange, found: Sequence[Finding], node: str) -> None:
        if every or found:
            line = render.compact_line(exchange, found)
            out.print(Text(f"[{node}] ") + line if node else line, soft_wrap=True)
            for f in found:
                out.print(Text(f"    {f.code} {f.severity}: {f.message}",
                               style=render.SEVERITY_STYLE[f.severity]), soft_wrap=True)
    return print_exchange


def _drive_one(steps: list[scenario.Step], scenario_file: Path, version: VersionRow,
               target: str, record: Path | None, *, observer: Observer,
               checker: CheckerFactory, options: PlayOptions) -> PlayTally:
    plugin = _target(target, version)
    writer = None if record is None else open_writer(record, recording_header(
        scenario=str(scenario_file), version=version, target=plugin.address))
    try:
        return play_scenario(steps, plugin, version, observer=observer, checker=checker,
                             writer=writer, options=options)
    except OSError as exc:
        raise _fail(f"recording failed: {exc}") from exc
    finally:
        if writer is not None:
            writer.close()


def _drive_swarm(steps: list[scenario.Step], scenario_file: Path, version: VersionRow,
                 target: list[str], record: Path | None, *, observer: Observer,
                 seed: int | None, checker: CheckerFactory) -> PlayTally:
    """One emulated dockerd per node, each with its own target and recording."""
    targets = _node_targets(target, node_names(steps), version)
    writers = {} if record is None else _node_writers(record, scenario_file, version, targets)
    try:
        return play_swarm(steps, targets, version, observer=observer, seed=seed,
                          checker=checker, writers=writers)
    except OSError as exc:
        raise _fail(f"recording failed: {exc}") from exc
    finally:
        for writer in writers.values():
            writer.close()


def _node_writers(record: Path, scenario_file: Path, version: VersionRow,
                  targets: dict[str, EmulatorTarget]) -> dict[str, RecordingWriter]:
    """``--record DIR`` of a swarm scenario: ``DIR/NODE.jsonl`` per node."""
    try:
        record.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _fail(f"--record {record}: {exc}") from exc
    return {name: open_writer(record / f"{name}.jsonl", recording_header(
        scenario=str(scenario_file), version=version, target=plugin.address, host=name))
        for name, plugin in targets.items()}


def _summarise(tally: PlayTally) -> None:
    err.print(f"{len(tally.results)} commands, {tally.calls} plugin calls, "
              f"{tally.unexpected} not as expected"
              + (f", {tally.errors} validation errors" if tally.checked else ""))
    if tally.unexpected or tally.errors:
        raise typer.Exit(1)
