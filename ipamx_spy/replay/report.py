"""What replay shows: a table per recording, a readable account of each mismatch, JSON.

The mismatch account follows vcrpy's "no match" message: which exchange, what it means in plain
words, each problem in one sentence, then the recorded and the live answer as a coloured diff.
``describe`` returns rich ``Text``; ``.plain`` of it is the same account without colour (pytest
without a terminal, JUnit).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rich.color import ColorSystem
from rich.console import Console
from rich.style import Style
from rich.text import Text

from ipamx_spy import dockerd

from .engine import FAIL, PASS, SKIP, ReplayResult, ReplayVerdict

JSON = Any
MARK = {PASS: ("✓", "green"), FAIL: ("✗", "bold red"), SKIP: ("–", "yellow")}


def _status(status: int | None) -> str:
    return "---" if status is None else str(status)


def _first_line(verdict: ReplayVerdict) -> str:
    if verdict.note and not verdict.problems:
        return verdict.note
    if verdict.outcome == SKIP:
        return f"skipped: {verdict.skip_reason}"
    if verdict.problems:
        more = len(verdict.problems) - 1
        return verdict.problems[0].message + (f" (+{more} more)" if more else "")
    return ""


ENDPOINT_WIDTH = max(len(name) for name in dockerd.ANY_BY_NAME)
"""The endpoint column is as wide as the longest endpoint name dockerd knows."""


def table_title(source: str, target: str) -> Text:
    """The line above a recording's rows, and the columns' names."""
    text = Text(f"{source} against {target}\n", style="bold")
    return text.append(f"{'#':>6}  {'conn':<5} {'endpoint':<{ENDPOINT_WIDTH}} "
                       f"{'rec':>4} {'live':>4}    details", style="bold")


def exchange_row(verdict: ReplayVerdict) -> Text:
    """One exchange's row, as wide as its columns (no table to lay out first: a replay
    prints each row as its verdict comes, in time that does not grow with the recording)."""
    mark, style = MARK[verdict.outcome]
    row = Text(f"{verdict.seq:>6}  {f'c{verdict.conn}':<5} ")
    row.append(f"{verdict.endpoint:<{ENDPOINT_WIDTH}}", style="cyan")
    row.append(f" {_status(verdict.recorded_status):>4} {_status(verdict.live_status):>4}  ")
    row.append(mark, style=style)
    details = _first_line(verdict)
    if details:
        row.append(f"  {details}", style="red" if verdict.failed else "dim")
    return row


Paint = Callable[[str, str], str]
_SYSTEMS = {"standard": ColorSystem.STANDARD, "256": ColorSystem.EIGHT_BIT,
            "truecolor": ColorSystem.TRUECOLOR, "windows": ColorSystem.WINDOWS}


def painter(console: Console) -> Paint:
    """``paint(text, style)``: the text with the style's ANSI codes for this console's colours
    (the text alone when it has none), as rich would write them, without rich's layout."""
    if console.color_system is None or console.no_color:
        return lambda text, style: text
    system = _SYSTEMS[console.color_system]
    codes = {style: Style.parse(style).render("\0", color_system=system).split("\0")
             for style in ("cyan", "red", "dim", *(s for _, s in MARK.values()))}
    return lambda text, style: f"{codes[style][0]}{text}{codes[style][1]}"


def row_line(verdict: ReplayVerdict, paint: Paint) -> str:
    """``exchange_row`` as a string, painted with ``paint``: the same row at a fraction of
    the cost of laying out a ``Text`` (the default output writes one per exchange)."""
    return RowFormat(paint)(verdict)


class RowFormat:
    """``row_line`` for many rows: each mark and each endpoint's cell is painted once (a
    replay names a handful of endpoints thousands of times), and so is all of a passing row
    but its number (most rows of a replay pass, on a few connections, with a few statuses)."""

    CELLS = 256  # endpoint cells and passing rows kept: a file may name any number of them

    def __init__(self, paint: Paint) -> None:
        self.paint = paint
        self.marks = {outcome: paint(mark, style) for outcome, (mark, style) in MARK.items()}
        self.cells: dict[str, str] = {}
        self.passed: dict[tuple[int, str, int | None, int | None], str] = {}

    def cell(self, endpoint: str) -> str:
        found = self.cells.get(endpoint)
        if found is None:
            found = self.paint(f"{endpoint:<{ENDPOINT_WIDTH}}", "cyan")
            if len(self.cells) < self.CELLS:
                self.cells[endpoint] = found
        return found

    def __call__(self, verdict: ReplayVerdict) -> str:
        if verdict.outcome is PASS and not verdict.note:  # no details: the rest is shared
            key = (verdict.conn, verdict.endpoint, verdict.recorded_status, verdict.live_status)
            rest = self.passed.get(key)
            if rest is None:
                rest = self._rest(verdict, "")
                if len(self.passed) < self.CELLS:
                    self.passed[key] = rest
            return f"{verdict.seq:>6}  {rest}"
        details = _first_line(verdict)
        tail = self.paint(f"  {details}", "red" if verdict.failed else "dim") if details else ""
        return f"{verdict.seq:>6}  {self._rest(verdict, tail)}"

    def _rest(self, verdict: ReplayVerdict, tail: str) -> str:
        """The row after its number and the two spaces that follow it."""
        return (f"{f'c{verdict.conn}':<5} {self.cell(verdict.endpoint)}"
                f" {_status(verdict.recorded_status):>4} {_status(verdict.live_status):>4}  "
                f"{self.marks[verdict.outcome]}{tail}\n")


class RowPrinter:
    """A replay's listener (``engine.ReplayListener``) that prints each recording's title as
    it starts, then its rows (none when ``quiet``), and hands each line the reader skipped
    to ``warn``. Rows are strings painted as rich paints them (``row_line``) and go out
    ``BATCH`` at a time, in one write: rich's layout of a ``Text`` per row cost about 50 µs,
    as much as the replay of the row."""

    BATCH = 256

    def __init__(self, console: Console, *, quiet: bool, warn: Callable[[str], None]) -> None:
        self.console, self.quiet, self.warn = console, quiet, warn
        self.rows: list[str] = []
        self.row_line = RowFormat(painter(console))

    def started(self, source: str, target: str) -> None:
        if not self.quiet:
            self.console.print(table_title(source, target), soft_wrap=True)

    def verdict(self, verdict: ReplayVerdict) -> None:
        if self.quiet:
            return
        self.rows.append(self.row_line(verdict))
        if len(self.rows) >= self.BATCH:
            self.flush()

    def skipped(self, warning: str) -> None:
        self.flush()
        self.warn(warning)

    def finished(self) -> None:
        self.flush()

    def flush(self) -> None:
        """Print the rows held back, if any."""
        if self.rows:
            self.console.file.write("".join(self.rows))
            self.console.file.flush()
            self.rows = []


def summary(result: ReplayResult) -> Text:
    """``talk.jsonl: 11 passed, 1 failed, 1 skipped`` (or why it could not run)."""
    if result.unusable is not None:  # it names the file
        return Text(f"cannot be replayed: {result.unusable}", style="bold red")
    text = Text(f"{result.source}: ", style="bold")
    failed = result.count(FAIL)
    text.append(f"{result.count(PASS)} passed", style="green")
    text.append(", ")
    text.append(f"{failed} failed", style="bold red" if failed else "")
    skipped = result.count(SKIP)
    if skipped:
        text.append(f", {skipped} skipped", style="yellow")
    if result.bindings:
        text.append(f" ({len(result.bindings)} value(s) bound to what the plugin chose)",
                    style="dim")
    return text


def _pretty(value: JSON) -> list[str]:
    if value is None:
        return ["(no body)"]
    if isinstance(value, str):
        return value.splitlines() or [""]
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).splitlines()


def body_diff(expected: JSON, actual: JSON, *, expected_label: str,
              actual_label: str) -> Text:
    """A unified diff of two bodies (``-`` recorded, ``+`` live), coloured."""
    text = Text()
    lines = difflib.unified_diff(_pretty(expected), _pretty(actual), fromfile=expected_label,
                                 tofile=actual_label, n=1000, lineterm="")
    styles = {"---": "bold red", "+++": "bold green", "@@": "cyan", "-": "red", "+": "green"}
    for line in lines:
        prefix = next((p for p in ("---", "+++", "@@", "-", "+") if line.startswith(p)), "")
        text.append("    " + line + "\n", style=styles.get(prefix, ""))
    return text


def describe(verdict: ReplayVerdict) -> Text:
    """The full account of one exchange's mismatch (or skip)."""
    text = Text()
    mark, style = MARK[verdict.outcome]
    text.append(f"{mark} #{verdict.seq} {verdict.endpoint}", style=style)
    text.append(f" (connection c{verdict.conn})\n", style="dim")
    text.append(f"  meaning: {verdict.meaning}\n", style="italic")
    if verdict.outcome == SKIP:
        return text.append(f"  skipped: {verdict.skip_reason}\n", style="yellow")
    for problem in verdict.problems:
        text.append("  • ", style="red")
        text.append(problem.message + "\n")
    if verdict.sent is not None:
        note = " (values rewritten with bindings)" if verdict.rewritten else ""
        text.append(f"  sent{note}: ", style="dim")
        text.append(json.dumps(verdict.sent, ensure_ascii=False) + "\n", style="dim")
    if verdict.live_status is not None:
        text.append_text(body_diff(
            verdict.expected, verdict.actual,
            expected_label=f"recorded answer (HTTP {verdict.recorded_status}, after bindings)",
            actual_label=f"live answer (HTTP {verdict.live_status})"))
    return text


def describe_failures(results: Iterable[ReplayResult]) -> list[Text]:
    return [describe(v) for result in results for v in result.failures]


def to_json(results: Sequence[ReplayResult], exit_code: int) -> dict[str, JSON]:
    """The machine-readable report (``--json``)."""
    return {
        "exit_code": exit_code,
        "recordings": [{
            "source": result.source,
            "target": result.target,
            "strict": result.rules.strict,
            "ignore": list(result.rules.ignore),
            "unusable": result.unusable,
            "passed": result.count(PASS),
            "failed": result.count(FAIL),
            "skipped": result.count(SKIP),
            "bindings": result.bindings,
            "exchanges": [_verdict_json(v) for v in result.verdicts],
        } for result in results],
    }


def _verdict_json(verdict: ReplayVerdict) -> dict[str, JSON]:
    return {
        "seq": verdict.seq, "conn": verdict.conn, "endpoint": verdict.endpoint,
        "verdict": verdict.outcome.value, "meaning": verdict.meaning,
        "recorded_status": verdict.recorded_status, "live_status": verdict.live_status,
        "problems": [p.to_json() for p in verdict.problems],
        "skip_reason": verdict.skip_reason or None,
        "sent": verdict.sent, "expected": verdict.expected, "actual": verdict.actual,
        "elapsed_ms": round(verdict.elapsed_ms, 3),
    }


def exit_code(results: Sequence[ReplayResult]) -> int:
    """0 when everything conforms, 1 on a mismatch, 2 when a recording could not be used."""
    if any(r.unusable is not None for r in results):
        return 2
    return 1 if any(r.failures for r in results) else 0
