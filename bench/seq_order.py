"""A streaming read in number order (``in_seq_order``) against the bare read, in one run.

The file: ``recordings/talk.jsonl``'s exchanges again and again, renumbered, N in all; once in
number order, once with every 8 consecutive answers reversed (concurrent calls answered out of
order, as under load). Each is read three ways, alternately, best of five:

* bare: ``RecordingReader.exchanges()`` iterated (the floor);
* fixed window: ``in_seq_order`` as it was, always holding ``REORDER_SLACK`` (1,024) exchanges
  (the same code given a plain iterator, which carries no numbering);
* numbered: ``in_seq_order(reader.exchanges())``, which holds only what came out of order.

Printed: CPU µs per exchange (``time.process_time``) and the traced peak (tracemalloc, Python
allocations, above what was held before) of each, and the ratios against the bare read.
Run: ``python bench/seq_order.py [N]`` (default 10000).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

from ipamx_spy import recording as rec
from ipamx_spy.recording_reader import RecordingReader, in_seq_order

TALK = Path(__file__).resolve().parents[1] / "recordings" / "talk.jsonl"
PASSES = 5


def write_file(out: Path, size: int, reverse_runs: int) -> None:
    recording = rec.load(TALK)
    cycle = sorted(recording.exchanges, key=lambda e: e.seq)
    exchanges = []
    for seq in range(1, size + 1):
        base = cycle[(seq - 1) % len(cycle)]
        exchanges.append(dataclasses.replace(base, seq=seq, t=seq * 0.01))
    if reverse_runs > 1:
        for index in range(0, len(exchanges), reverse_runs):
            exchanges[index:index + reverse_runs] = reversed(exchanges[index:index + reverse_runs])
    with open(out, "w", encoding="utf-8") as file:
        file.write(json.dumps(recording.header) + "\n")
        for exchange in exchanges:
            file.write(json.dumps(exchange.to_json()) + "\n")


def bare(path: Path) -> int:
    with RecordingReader(path) as reader:
        return sum(1 for _ in reader.exchanges())


def fixed_window(path: Path) -> int:
    with RecordingReader(path) as reader:
        plain: Iterator[rec.Exchange] = (e for e in reader.exchanges())  # no numbering
        return _checked(in_seq_order(plain))


def numbered(path: Path) -> int:
    with RecordingReader(path) as reader:
        return _checked(in_seq_order(reader.exchanges()))


def _checked(exchanges: Iterator[rec.Exchange]) -> int:
    last, count = 0, 0
    for exchange in exchanges:
        if exchange.seq < last:
            raise SystemExit(f"out of order: #{exchange.seq} after #{last}")
        last, count = exchange.seq, count + 1
    return count


def cpu(call: Callable[[], object]) -> float:
    started = time.process_time()
    call()
    return time.process_time() - started


def peak(call: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        call()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 10000
    ways = {"bare": bare, "fixed window": fixed_window, "numbered": numbered}
    with tempfile.TemporaryDirectory(prefix="ipx-so-") as work:
        for label, runs in (("in number order", 1), ("every 8 answers reversed", 8)):
            path = Path(work) / f"{runs}.jsonl"
            write_file(path, size, runs)
            best = dict.fromkeys(ways, float("inf"))
            for _ in range(PASSES):  # alternately, so load hits all three alike
                for name, way in ways.items():
                    best[name] = min(best[name], cpu(lambda w=way, p=path: w(p)))  # type: ignore[misc]
            peaks = {name: peak(lambda w=way, p=path: w(p))  # type: ignore[misc]
                     for name, way in ways.items()}
            print(f"{size:,} exchanges, {label}; load average {os.getloadavg()[0]:.1f}")
            for name in ways:
                us = best[name] / size * 1e6
                print(f"  {name:13} {us:6.1f} µs/exchange ({best[name] / best['bare']:.2f}x bare)"
                      f"  peak {peaks[name] / 1e6:6.2f} MB"
                      f" (+{(peaks[name] - peaks['bare']) / 1e6:.2f} MB over bare)")


if __name__ == "__main__":
    main()
