"""``ipamx-spy replay``: recordings as conformance tests against a plugin."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from ipamx_spy.builtin import BuiltinConfig
from ipamx_spy.console import err, out
from ipamx_spy.replay import report
from ipamx_spy.replay.compare import Rules
from ipamx_spy.replay.engine import ReplayResult, replay_files
from ipamx_spy.replay.target import DEFAULT_TIMEOUT, ReplayUnusable, parse_target

from . import builtin_options as bo
from .errors import complain, recording_paths, warn


def register(app: typer.Typer) -> None:
    @app.command()
    def replay(
        recordings: Annotated[list[Path], typer.Argument(
            help="Recording files (JSON Lines) or directories of them.")],
        target: Annotated[str | None, typer.Option(
            "--target", "-t",
            help="Plugin under test: socket path, unix://PATH, tcp://HOST:PORT, a plugin name, "
                 "or 'builtin' [default: the built-in reference plugin, in-process].")] = None,
        strict: Annotated[bool, typer.Option(
            "--strict", help="Demand equal values everywhere (after bindings), also for "
                             "values the plugin chooses, and equal error texts.")] = False,
        ignore: Annotated[list[str] | None, typer.Option(
            "--ignore", help="Leave a response field out of the comparison: PATH "
                             "(e.g. Data, Interface.MacAddress) or ENDPOINT:PATH.")] = None,
        timeout: Annotated[float, typer.Option(
            "--timeout", min=0.001,
            help="Seconds to wait for each answer from a socket target.")] = DEFAULT_TIMEOUT,
        junit_file: Annotated[Path | None, typer.Option(
            "--junit", help="Write JUnit XML here.")] = None,
        json_out: Annotated[bool, typer.Option(
            "--json", help="Write the report as JSON to stdout (tables go to stderr).")] = False,
        quiet: Annotated[bool, typer.Option(
            "--quiet", "-q", help="No per-exchange table; mismatches and summary only.")] = False,
        merged: Annotated[bool, typer.Option(
            "--merge", help="Replay several hosts' recordings as one timeline (merged by "
                            "wall-clock time), each host on its own built-in allocator, all "
                            "sharing one global address space.")] = False,
        host_target: Annotated[list[str] | None, typer.Option(
            "--host-target", metavar="HOST=TARGET",
            help="With --merge: the plugin under test on HOST (a socket, a plugin name or "
                 "builtin), one per host, instead of the shared built-in "
                 "allocators.")] = None,
        compat: str = bo.COMPAT,
        local_space: str = bo.LOCAL_SPACE,
        global_space: str = bo.GLOBAL_SPACE,
        network_driver: bool = bo.NETWORK_DRIVER,
    ) -> None:
        """Replay recordings against a plugin and check every answer against the recorded one.

        Exit code 0 when everything conforms, 1 on a mismatch, 2 when the target or a
        recording cannot be used.
        """
        console = err if json_out else out
        config = BuiltinConfig(name="replay", compat=bo.resolve_compat(compat),
                               local_space=local_space,
                               global_space=global_space, network_driver=network_driver)
        rules = Rules(strict=strict, ignore=tuple(ignore or ()))
        if merged:
            _replay_merged(recording_paths(recordings), target, rules, config, console,
                           quiet=quiet, junit_file=junit_file, json_out=json_out,
                           host_targets=host_target or [], timeout=timeout)
        if host_target:
            complain("replay: --host-target goes with --merge")
            _finish([], console, junit_file, json_out, code=2)
        results: list[ReplayResult] = []
        try:
            spec = parse_target(target, config=config, timeout=timeout)
            for result in replay_files(recording_paths(recordings), spec, rules,
                                       listener=report.RowPrinter(console, quiet=quiet, warn=warn),
                                       keep_all=json_out or junit_file is not None):
                results.append(result)
        except ReplayUnusable as exc:
            complain(f"replay: {exc}")
            _finish(results, console, junit_file, json_out, code=2)
        _finish(results, console, junit_file, json_out, code=report.exit_code(results))


def _replay_merged(paths: list[Path], target: str | None, rules: Rules, config: BuiltinConfig,
                   console: Console, *, quiet: bool, junit_file: Path | None,
                   json_out: bool, host_targets: list[str], timeout: float) -> None:
    """``--merge``: one timeline, one shared-space allocator per host (multihost.replay), or
    the plugin under test of each host (``--host-target``)."""
    if target not in (None, "builtin"):
        complain("replay: --merge replays against the built-in plugin of each host, or "
                 "--host-target HOST=TARGET for each; leave --target out")
        _finish([], console, junit_file, json_out, code=2)
    from ipamx_spy.multihost.replay import host_targets_from, replay_merged_paths  # --merge

    try:
        specs = host_targets_from(host_targets, config=config, timeout=timeout)
        result = replay_merged_paths(
            paths, rules, config=config, targets=specs, auto_driver=not config.network_driver,
            listener=report.RowPrinter(console, quiet=quiet, warn=warn),
            keep_all=json_out or junit_file is not None).result
    except ReplayUnusable as exc:
        complain(f"replay: {exc}")
        _finish([], console, junit_file, json_out, code=2)
    _finish([result], console, junit_file, json_out, code=report.exit_code([result]))


def _finish(results: list[ReplayResult], console: Console, junit_file: Path | None,
            json_out: bool, *, code: int) -> None:
    for account in report.describe_failures(results):
        console.print(account, soft_wrap=True)
    for result in results:
        console.print(report.summary(result), soft_wrap=True)
    if junit_file is not None:
        from ipamx_spy.replay import junit  # XML only when asked for

        try:
            junit.write(junit_file, results)
        except OSError as exc:
            complain(f"replay: cannot write {junit_file}: {exc.strerror or exc}")
            code = 2
    if json_out:
        out.file.write(json.dumps(report.to_json(results, code), ensure_ascii=False) + "\n")
        out.file.flush()
    raise typer.Exit(code)
