"""pytest plugin: every ipamx-spy recording is a conformance test (``pytest recordings/``).

Registered through the ``pytest11`` entry point ``ipamx_spy``; before that, load it with
``-p ipamx_spy.pytest_plugin``. A ``*.jsonl`` file is collected only when its first line is an
ipamx-spy header, so other JSON Lines files are left alone. Nothing heavy is imported until a
recording actually runs (collection reads one line of each ``.jsonl`` file).

One test item per recording, not per exchange: the exchanges of a recording build on each other
(the pool of exchange 4 is the one exchange 5 asks an address from; bindings learned early
rewrite later requests), so an exchange is not a test on its own: it cannot be selected,
reordered or run in parallel alone, and after a first mismatch the later ones would fail in
cascade. The failure report still lists every exchange that does not conform, each with its
own diff.

Options (command line, else ``[tool.ipamx-spy]`` in pyproject.toml, else the ini file):
``--ipamx-target`` / ``ipamx_target`` / ``target`` (default ``builtin``, the in-process
reference plugin; ``builtin:compat=20.10,state=temp`` configures it; a socket path,
``unix://``, ``tcp://`` or a plugin name tests a running plugin), ``--ipamx-strict`` /
``ipamx_strict``, ``--ipamx-ignore PATH`` / ``ipamx_ignore`` (one per line),
``--ipamx-timeout`` / ``ipamx_timeout`` (seconds per answer, default 30), ``--ipamx-filter`` /
``ipamx_filter`` / ``filter`` (only mismatches of exchanges the filter matches fail the test;
every exchange is still replayed) and ``--ipamx-record-mode`` / ``ipamx_record_mode`` /
``record-mode`` (``none``, ``once``, ``new``, ``all``; ``ipamx_spy.recordmodes``).

Record modes: a scenario file ``NAME.scenario`` with its recording ``NAME.jsonl`` beside it is
one test. Without a recording, the scenario is collected on its own and fails in mode ``none``
(naming the mode that records it); the other modes record it by playing the scenario against
the target as dockerd would. Every recording written is listed at the end of the run, to be
committed.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from ipamx_spy.records import RecordType  # stdlib only, cheap

if TYPE_CHECKING:
    from _pytest._code.code import ExceptionInfo, TerminalRepr

    from ipamx_spy.replay.engine import ReplayResult

RECORDING_FORMAT = "ipamx-spy-recording"  # ipamx_spy.recording.FORMAT (checked by the tests)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("ipamx-spy", "replay ipamx-spy recordings as conformance tests")
    group.addoption("--ipamx-target", dest="ipamx_target", default=None, metavar="TARGET",
                    help="plugin to replay recordings against: builtin[:compat=20.10,...], "
                         "a socket path, unix://PATH, tcp://HOST:PORT or a plugin name "
                         "(ini: ipamx_target; default builtin)")
    group.addoption("--ipamx-strict", dest="ipamx_strict", action="store_true", default=None,
                    help="demand equal values everywhere after bindings (ini: ipamx_strict)")
    group.addoption("--ipamx-ignore", dest="ipamx_ignore", action="append", default=[],
                    metavar="PATH", help="leave a response field out of the comparison "
                                         "(PATH or ENDPOINT:PATH; ini: ipamx_ignore)")
    group.addoption("--ipamx-timeout", dest="ipamx_timeout", type=float, default=None,
                    metavar="SECONDS", help="seconds to wait for each answer (ini: "
                                            "ipamx_timeout; default 30)")
    parser.addini("ipamx_target", "plugin to replay ipamx-spy recordings against",
                  default="builtin")
    parser.addini("ipamx_strict", "replay recordings strictly", type="bool", default=False)
    parser.addini("ipamx_ignore", "response fields replay leaves out", type="linelist",
                  default=[])
    parser.addini("ipamx_timeout", "seconds replay waits for each answer", default="30")
    group.addoption("--ipamx-filter", dest="ipamx_filter", default=None, metavar="FILTER",
                    help="judge only exchanges the filter matches (ini: ipamx_filter; "
                         "docs/filters.md)")
    group.addoption("--ipamx-record-mode", dest="ipamx_record_mode", default=None,
                    metavar="MODE", help="none (replay only, default), once (record missing "
                    "recordings of scenarios), new (append new exchanges), all (re-record); "
                    "ini: ipamx_record_mode")
    parser.addini("ipamx_filter", "filter of the exchanges replay judges", default="")
    parser.addini("ipamx_record_mode", "record mode for scenarios", default="")


def is_recording(path: Path) -> bool:
    """True when the first line of ``path`` is an ipamx-spy recording header."""
    try:
        with open(path, "rb") as file:
            first = file.readline(1 << 16)
        header = json.loads(first)
    except (OSError, ValueError):
        return False
    return (isinstance(header, dict) and header.get("type") == RecordType.HEADER
            and header.get("format") == RECORDING_FORMAT)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix == ".jsonl" and is_recording(file_path):
        return RecordingFile.from_parent(parent, path=file_path)
    if file_path.suffix == ".scenario" and not file_path.with_suffix(".jsonl").exists():
        return ScenarioFile.from_parent(parent, path=file_path)
    return None


RECORDED: pytest.StashKey[list[str]] = pytest.StashKey()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[RECORDED] = []
    if config.getoption("ipamx_record_mode", None) is not None or _project(config).record_mode:
        _record_mode(config)  # a bad mode is a usage error before anything runs


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int,
                            config: pytest.Config) -> None:
    written = config.stash.get(RECORDED, [])
    if written:
        terminalreporter.section("ipamx-spy recordings written (commit them)")
        for line in written:
            terminalreporter.write_line(line)


def _project(config: pytest.Config) -> Any:
    from ipamx_spy import project

    try:
        return project.load(config.rootpath)
    except (project.ProjectError, OSError) as exc:
        raise pytest.UsageError(str(exc)) from None


def _choice(config: pytest.Config, option: str, key: str) -> str | None:
    """An option from the command line, else ``[tool.ipamx-spy]``, else the ini file."""
    value = config.getoption(option) or getattr(_project(config), key)
    return value or str(config.getini(option) or "") or None


def _record_mode(config: pytest.Config) -> Any:
    from ipamx_spy.recordmodes import RecordModeError, parse_mode

    try:
        return parse_mode(_choice(config, "ipamx_record_mode", "record_mode") or "none")
    except RecordModeError as exc:
        raise pytest.UsageError(f"--ipamx-record-mode: {exc}") from None


def _prepare(item: pytest.Item, recording_path: Path, scenario_path: Path) -> None:
    """Record or extend the recording as the record mode says; fail when it is missing."""
    from ipamx_spy.recordmodes import Action, RecordModeError, append_new, plan, record_scenario

    mode = _record_mode(item.config)
    action = plan(mode, has_recording=recording_path.exists(),
                  has_scenario=scenario_path.exists())
    if action is Action.MISSING:
        raise MissingRecording(f"{scenario_path.name} has no recording {recording_path.name} "
                               f"(record mode {mode}): run pytest with --ipamx-record-mode once "
                               "to record it, then commit it")
    target, _, _, _ = _settings(item.config)
    plugin = "builtin" if target.startswith("builtin") else target
    try:
        if action is Action.RECORD:
            done = record_scenario(scenario_path, recording_path, target=plugin)
            item.config.stash[RECORDED].append(
                f"{done.path} ({done.exchanges} exchanges, recorded from {scenario_path.name})")
        elif action is Action.APPEND:
            done = append_new(scenario_path, recording_path, target=plugin)
            if done.added:
                item.config.stash[RECORDED].append(
                    f"{done.path} ({done.added} new exchanges appended)")
    except RecordModeError as exc:
        raise MissingRecording(str(exc)) from None


class MissingRecording(Exception):
    """A scenario without its recording, or one that could not be recorded."""


class RecordingFile(pytest.File):
    """A recording: one test item that replays it whole."""

    def collect(self) -> Iterator[pytest.Item]:
        yield RecordingItem.from_parent(self, name="replay")


class ReplayMismatch(AssertionError):
    """Some exchanges of a recording did not conform; ``result`` has the verdicts."""

    def __init__(self, result: ReplayResult) -> None:
        super().__init__(f"{len(result.failures)} exchange(s) do not conform")
        self.result = result


def _settings(config: pytest.Config) -> tuple[str, bool, tuple[str, ...], float]:
    target = (config.getoption("ipamx_target") or _project(config).target
              or str(config.getini("ipamx_target")))
    strict = config.getoption("ipamx_strict")
    if strict is None:
        strict = bool(config.getini("ipamx_strict"))
    ignore = tuple(config.getoption("ipamx_ignore") or ()) + tuple(config.getini("ipamx_ignore"))
    timeout = config.getoption("ipamx_timeout")
    if timeout is None:
        try:
            timeout = float(str(config.getini("ipamx_timeout")))
        except ValueError:
            raise pytest.UsageError("ipamx_timeout must be a number of seconds") from None
    return target, bool(strict), ignore, float(timeout)


class ScenarioFile(pytest.File):
    """A scenario whose recording is missing: recorded (or failed) by the record mode."""

    def collect(self) -> Iterator[pytest.Item]:
        yield RecordingItem.from_parent(self, name="replay")


def _judged(result: ReplayResult, path: Path, text: str | None) -> ReplayResult:
    """The result with only the failures of exchanges the filter keeps (the recording read
    again record by record, judging only the failed exchanges)."""
    if not text:
        return result
    import dataclasses

    from ipamx_spy import filters

    try:
        chosen = filters.parse(text)
    except filters.FilterError as exc:
        raise pytest.UsageError(f"--ipamx-filter: {exc}\n{exc.pointer()}") from None
    keep = filters.kept_in_file(path, chosen, {v.seq: () for v in result.failures})
    return dataclasses.replace(result, verdicts=tuple(
        v for v in result.verdicts if not v.failed or v.seq in keep))


class _Warnings:
    """Says each line the reader skipped as a pytest warning, then goes on."""

    def __init__(self, item: pytest.Item) -> None:
        self.item = item

    def started(self, source: str, target: str) -> None:
        """Nothing to say when a replay starts."""

    def verdict(self, verdict: Any) -> None:
        """Verdicts are judged when the replay ends."""

    def skipped(self, warning: str) -> None:
        self.item.warn(pytest.PytestWarning(f"ipamx-spy: {warning}"))

    def finished(self) -> None:
        """Nothing held back to say."""


class RecordingItem(pytest.Item):
    """Replays one recording; fails with the readable account of every mismatch."""

    def runtest(self) -> None:
        from ipamx_spy.replay.compare import Rules
        from ipamx_spy.replay.engine import replay_path
        from ipamx_spy.replay.target import parse_target

        recording_path = self.path.with_suffix(".jsonl")
        _prepare(self, recording_path, self.path.with_suffix(".scenario"))
        target, strict, ignore, timeout = _settings(self.config)
        spec = parse_target(target, timeout=timeout)
        result = replay_path(recording_path, spec, Rules(strict=strict, ignore=ignore),
                             listener=_Warnings(self), keep_all=False)
        result = _judged(result, recording_path, _choice(self.config, "ipamx_filter", "filter"))
        self.user_properties.append(("ipamx_target", result.target))
        if result.failures:
            raise ReplayMismatch(result)

    def repr_failure(self, excinfo: ExceptionInfo[BaseException],
                     style: Any = None) -> str | TerminalRepr:
        from ipamx_spy.replay.target import ReplayUnusable

        if isinstance(excinfo.value, ReplayUnusable):
            reason = str(excinfo.value)
            named = str(self.path) in reason
            return f"cannot replay{'' if named else ' ' + self.path.name}: {reason}"
        if isinstance(excinfo.value, MissingRecording):
            return str(excinfo.value)
        if isinstance(excinfo.value, ReplayMismatch):
            return self._account(excinfo.value.result)
        return super().repr_failure(excinfo, style=style)

    def _account(self, result: ReplayResult) -> str:
        from rich.console import Console

        from ipamx_spy.replay import report

        markup = self.config.get_terminal_writer().hasmarkup
        buffer = io.StringIO()
        console = Console(file=buffer, force_terminal=markup, no_color=not markup,
                          width=max(80, self.config.get_terminal_writer().fullwidth),
                          soft_wrap=True)
        console.print(f"replayed against {result.target}", style="dim")
        for account in report.describe_failures([result]):
            console.print(account)
        console.print(report.summary(result))
        return buffer.getvalue().rstrip("\n")

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.path.name}: replay"
