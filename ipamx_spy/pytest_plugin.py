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

Options (command line, else ini): ``--ipamx-target`` / ``ipamx_target`` (default ``builtin``,
the in-process reference plugin; ``builtin:compat=20.10,state=temp`` configures it; a socket
path, ``unix://``, ``tcp://`` or a plugin name tests a running plugin), ``--ipamx-strict`` /
``ipamx_strict``, ``--ipamx-ignore PATH`` / ``ipamx_ignore`` (one per line) and
``--ipamx-timeout`` / ``ipamx_timeout`` (seconds per answer, default 30).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

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


def is_recording(path: Path) -> bool:
    """True when the first line of ``path`` is an ipamx-spy recording header."""
    try:
        with open(path, "rb") as file:
            first = file.readline(1 << 16)
        header = json.loads(first)
    except (OSError, ValueError):
        return False
    return (isinstance(header, dict) and header.get("type") == "header"
            and header.get("format") == RECORDING_FORMAT)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix == ".jsonl" and is_recording(file_path):
        return RecordingFile.from_parent(parent, path=file_path)
    return None


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
    target = config.getoption("ipamx_target") or str(config.getini("ipamx_target"))
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


class RecordingItem(pytest.Item):
    """Replays one recording; fails with the readable account of every mismatch."""

    def runtest(self) -> None:
        from ipamx_spy.replay.compare import Rules
        from ipamx_spy.replay.engine import load_recording, replay_recording
        from ipamx_spy.replay.target import parse_target

        target, strict, ignore, timeout = _settings(self.config)
        spec = parse_target(target, timeout=timeout)
        recording = load_recording(self.path)
        for damage in recording.damage:  # a torn or damaged line: say which, then go on
            self.warn(pytest.PytestWarning(f"ipamx-spy: {damage}"))
        result = replay_recording(recording, spec, Rules(strict=strict, ignore=ignore),
                                  source=str(self.path))
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
