#!/usr/bin/env python3
"""Mutate real recordings and feed them to every reader; any traceback is a failure.

Readers: ``load`` (show, export, note, check, replay all start there), ``show``'s terminal
drawing, ``export`` in every format, ``check``'s validator, ``replay`` against the in-process
built-in plugin, ``note``, and the pytest plugin's collection and loading. The only exceptions
a reader may raise are the clear, expected ones (``EXPECTED``): the file is not a usable
recording, it cannot be replayed, a note cannot be added. Everything else is counted as a
traceback and printed with the mutated file.

    python3 scripts/fuzz_readers.py --cases 100000 [--seed N] [--replay-every 10]
                                    [--draw-every 10] [--max-seconds S]

Each case is a window of a recording in ``recordings/`` (the header and a few records, now and
then the whole file) with one to three mutations: truncation, a deleted, repeated, swapped or
glued line, a flipped byte, or a JSON value replaced by a hostile one (wrong types, a lone
surrogate, deep nesting, unknown body encodings, huge numbers).

The test suite runs the same mutations with a bounded number of Hypothesis examples
(``tests/test_fuzz_readers.py``).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import io
import json
import random
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rich.console import Console  # noqa: E402

from ipamx_spy import pytest_plugin, recording  # noqa: E402
from ipamx_spy.export import FORMATS, build_trace  # noqa: E402
from ipamx_spy.export.stream import TEXT_STREAMS, export_chunks, open_trace  # noqa: E402
from ipamx_spy.export.terminal import print_trace  # noqa: E402
from ipamx_spy.export.trace import tally  # noqa: E402
from ipamx_spy.notes import NoteError, note_record  # noqa: E402
from ipamx_spy.recording import RecordingError  # noqa: E402
from ipamx_spy.replay.compare import Rules  # noqa: E402
from ipamx_spy.replay.engine import load_recording, replay_path, replay_recording  # noqa: E402
from ipamx_spy.replay.target import ReplayUnusable, parse_target  # noqa: E402
from ipamx_spy.validate import check_file  # noqa: E402

EXPECTED = (RecordingError, ReplayUnusable, NoteError)
CORPUS = sorted((ROOT / "recordings").glob("*.jsonl"))


def _deep(n: int) -> Any:
    value: Any = []
    for _ in range(n):
        value = [value]
    return value


NASTY: list[Any] = [
    None, "", "abc", "\ud800", "«x»\u2028", -1, 0, 2**70, 1e308, -1e308, True, [], {},
    [1, 2], {"encoding": "json"}, {"encoding": "rot13"}, {"encoding": "base64", "base64": "%"},
    {"encoding": "text"}, {"encoding": "json", "json": _deep(150)}, "0" * 5000,
    ["a", "b", "c"], [["Host"]], "POST", "IpamDriver.RequestPool", 1.5, "\x00",
]
KEYS = ["version", "type", "seq", "conn", "t", "endpoint", "request", "response", "body",
        "fault", "headers", "status", "encoding", "json", "text", "layout", "answered_by",
        "upstream_ms", "duration_ms", "method", "target", "unanswered", "after_seq", "data"]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out += _paths(child, (*prefix, index))
    return out


def _json_mutation(record: Any, rng: random.Random) -> Any:
    paths = _paths(record)
    path = rng.choice(paths)
    if not path:
        return rng.choice(NASTY)
    parent = record
    for key in path[:-1]:
        parent = parent[key]
    last = path[-1]
    roll = rng.random()
    if roll < 0.2 and isinstance(parent, dict):
        del parent[last]
    elif roll < 0.3 and isinstance(parent, dict):
        parent[rng.choice(KEYS)] = rng.choice(NASTY)
    else:
        parent[last] = rng.choice(NASTY)
    return record


def window(data: bytes, rng: random.Random) -> bytes:
    """The header and a few consecutive records (now and then the whole file): small cases
    run many times faster and reach the same code."""
    if rng.random() < 0.1:
        return data
    lines = data.splitlines(keepends=True)
    start = rng.randrange(1, len(lines))
    return b"".join([lines[0], *lines[start:start + rng.randint(1, 8)]])


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to three random mutations of a recording's bytes."""
    for _ in range(rng.randint(1, 3)):
        lines = data.split(b"\n")
        kind = rng.randrange(9)
        i = rng.randrange(len(lines))
        if kind == 0 and data:
            data = data[: rng.randrange(len(data))]
        elif kind == 1:
            del lines[i]
            data = b"\n".join(lines)
        elif kind == 2:
            lines.insert(i, lines[rng.randrange(len(lines))])
            data = b"\n".join(lines)
        elif kind == 3 and data:
            at = rng.randrange(len(data))
            data = data[:at] + bytes([rng.randrange(256)]) + data[at + 1:]
        elif kind == 4 and i + 1 < len(lines):
            lines[i] += lines.pop(i + 1)  # two records glued
            data = b"\n".join(lines)
        elif kind == 5:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
            data = b"\n".join(lines)
        else:
            try:
                record = json.loads(lines[i])
            except ValueError:
                continue
            changed = _json_mutation(record, rng)
            lines[i] = json.dumps(changed, ensure_ascii=rng.random() < 0.5).encode(
                "utf-8", "surrogatepass")
            data = b"\n".join(lines)
    return data


class Traceback(Exception):
    """A reader raised something it should have turned into a clear message."""


def _guard(name: str, call: Callable[[], object]) -> None:
    try:
        call()
    except EXPECTED:
        pass
    except RecursionError as exc:
        raise Traceback(f"{name}: RecursionError") from exc
    except Exception as exc:
        raise Traceback(f"{name}: {type(exc).__name__}: {exc}") from exc


def run_readers(data: bytes, where: Path, *, replay: bool = True, draw: bool = True) -> None:
    """Every reader on ``data``. Raises Traceback for an unexpected exception."""
    path = where / "fuzzed.jsonl"
    path.write_bytes(data)
    loaded: list[recording.Recording] = []
    _guard("load", lambda: loaded.append(recording.load(path)))
    _guard("pytest collect", lambda: pytest_plugin.is_recording(path))
    _guard("check", lambda: check_file(path))
    if not loaded:
        return
    rec = loaded[0]

    def exports() -> None:
        trace = build_trace(rec)
        if draw:  # rich's drawing is the slowest reader (show, export -f svg)
            print_trace(trace, Console(file=io.StringIO(), width=100))
        for name, format_ in FORMATS.items():
            if draw or name != "svg":
                _guard(f"export -f {name}", lambda f=format_: f(trace))  # type: ignore[misc]

    _guard("show/export", exports)

    def streamed() -> None:  # what the commands run: the file read record by record
        trace = open_trace([path])
        if draw:
            print_trace(trace, Console(file=io.StringIO(), width=100))
        for name, pieces in TEXT_STREAMS.items():
            _guard(f"export -f {name} (streamed)", lambda p=pieces: "".join(p(trace)))
        _guard("export -f mitm (streamed)", lambda: b"".join(export_chunks("mitm", trace)))
        tally(trace)

    _guard("show/export (streamed)", streamed)
    now = _dt.datetime.now(_dt.UTC)
    seqs = [e.seq for e in rec.exchanges] or [1]
    _guard("note (streamed)", lambda: note_record(path, seqs[0], "fuzz", now))
    _guard("note", lambda: recording.append_records(
        path, [note_record(rec, seqs[0], "fuzz", now).to_json()]))
    if replay:
        _guard("replay", lambda: replay_recording(load_recording(path), parse_target("builtin"),
                                                  Rules(), source=str(path)))
        _guard("replay (streamed)", lambda: replay_path(path, parse_target("builtin"), Rules(),
                                                        keep_all=False))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--replay-every", type=int, default=10,
                        help="replay only every Nth case (it starts a plugin each time)")
    parser.add_argument("--draw-every", type=int, default=10,
                        help="draw show and export -f svg only every Nth case (rich is slow)")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="stop after this long and report the cases run so far")
    args = parser.parse_args()
    seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    rng = random.Random(seed)
    originals = [p.read_bytes() for p in CORPUS]
    failures = unusable = done = 0
    started = time.monotonic()
    sys.setrecursionlimit(1000)
    with tempfile.TemporaryDirectory(prefix="ipx-fuzz-") as tmp:
        for case in range(1, args.cases + 1):
            if args.max_seconds is not None and time.monotonic() - started > args.max_seconds:
                print(f"stopped by --max-seconds {args.max_seconds:g}")
                break
            done = case
            data = mutate(window(rng.choice(originals), rng), rng)
            try:
                run_readers(data, Path(tmp), replay=case % args.replay_every == 0,
                            draw=case % args.draw_every == 0)
            except Traceback as exc:
                failures += 1
                print(f"case {case}: {exc}\n{data[:2000]!r}", file=sys.stderr)
                traceback.print_exception(exc.__cause__, file=sys.stderr)
            try:
                recording.parse(data)
            except RecordingError:
                unusable += 1
            except Exception as exc:  # noqa: BLE001 (counted and shown, like the readers)
                failures += 1
                print(f"case {case}: parse: {type(exc).__name__}: {exc}", file=sys.stderr)
            if case % 5000 == 0:
                print(f"{case} cases, {failures} tracebacks, "
                      f"{time.monotonic() - started:.0f} s", flush=True)
    print(f"seed {seed}: {done} cases ({done - unusable} loadable, {unusable} "
          f"refused with a clear error), {failures} tracebacks, "
          f"{time.monotonic() - started:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
