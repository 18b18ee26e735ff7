"""Helpers of the constant-memory tests: long recordings made by repeating a recording's
network cycle, and the traced peak of a call (tracemalloc: Python allocations only, so the
figure is the reader's own, not the interpreter's or the allocator's arenas)."""

from __future__ import annotations

import dataclasses
import gc
import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from ipamx_spy import recording as rec

ROOT = Path(__file__).resolve().parents[1]
TALK = ROOT / "recordings" / "talk.jsonl"
BOUND = 2.0  # a reader that holds the file grows about tenfold from 2,000 to 20,000 exchanges


def repeated(path: Path, exchanges: int, out: Path, *, head: int = 3) -> Path:
    """``path``'s first ``head`` exchanges (activation, capabilities), then the rest of its
    exchanges again and again, renumbered and 10 s apart, up to ``exchanges`` in all: a long
    recording of the same network cycle, each cycle releasing what it took."""
    recording = rec.load(path)
    ordered = sorted(recording.exchanges, key=lambda e: e.seq)
    first, cycle = ordered[:head], ordered[head:]
    with open(out, "w", encoding="utf-8") as file:
        file.write(json.dumps(recording.header) + "\n")
        seq, start = 0, 0.0
        for exchange in first:
            seq += 1
            file.write(json.dumps(dataclasses.replace(exchange, seq=seq).to_json()) + "\n")
        while seq < exchanges:
            start += cycle[-1].t + 10.0
            for exchange in cycle[:exchanges - seq]:
                seq += 1
                moved = dataclasses.replace(exchange, seq=seq, t=start + exchange.t)
                file.write(json.dumps(moved.to_json()) + "\n")
    return out


def traced_peak(call: Callable[[], object]) -> int:
    """Bytes ``call`` allocated at its peak above what was held when it began (its result is
    dropped before the peak is read, so a reader's result counts only while it was built)."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        call()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def peaks(call: Callable[[Path], object], small: Path, large: Path) -> tuple[int, int]:
    """The traced peaks of ``call`` on the small and the large file, after one untraced
    warm-up run on the small one (so lazy imports and caches are not counted)."""
    call(small)
    return traced_peak(lambda: call(small)), traced_peak(lambda: call(large))
