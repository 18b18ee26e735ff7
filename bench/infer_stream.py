"""Streamed inference against whole-file inference, on the same exchanges in memory.

The workload is ``bench/replay.py``'s: N exchanges recorded against the reference plugin
(networks created, containers given addresses, everything released again), with a pause before
each network's RequestPool as ``bench/readers.py`` writes them, so the calls fall into bursts
as a script's docker commands do. Timed in the same run, best of interleaved rounds:

* whole: ``infer.infer`` over all of the exchanges (the baseline: what ``sections`` does);
* survey: ``infer.LookaheadSurvey`` fed every exchange (what ``export``'s first pass adds);
* stream: ``infer.stream_sections`` with the survey's answer (``show`` and the exports);
* bare: a loop that only touches each exchange (for the survey's ratio).

Both inferences read each answer's verdict (``infer._failed``, cached per exchange): its cache
is cleared before every timed run so each starts cold. The figures that matter are the ratios
stream / whole and survey / bare; the load average is printed with them.
Run: ``python bench/infer_stream.py [N]`` (default 100000).
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from replay import make_recording  # noqa: E402

from ipamx_spy import infer  # noqa: E402
from ipamx_spy.recording import Exchange  # noqa: E402

PAUSE_S = 0.5  # before each network's RequestPool, as bench/readers.py writes them
ROUNDS = 3


def workload(size: int) -> list[Exchange]:
    """``size`` exchanges, 1 ms apart within a network and ``PAUSE_S`` before each one."""
    t, out = 0.0, []
    for exchange in make_recording(size).exchanges:
        t += PAUSE_S if exchange.endpoint == "IpamDriver.RequestPool" else 0.001
        out.append(dataclasses.replace(exchange, t=round(t, 6), duration_ms=0.5))
    return out


def whole(exchanges: Sequence[Exchange]) -> int:
    return len(infer.infer(exchanges))


def survey(exchanges: Sequence[Exchange]) -> int:
    lookahead = infer.LookaheadSurvey()
    for exchange in exchanges:
        lookahead.add(exchange)
    return len(lookahead.released_alone(()))


def stream(exchanges: Sequence[Exchange]) -> int:
    lookahead = infer.LookaheadSurvey()
    for exchange in exchanges:
        lookahead.add(exchange)
    alone = lookahead.released_alone(())
    return sum(1 for _ in infer.stream_sections(exchanges, (), released_alone=alone))


def bare(exchanges: Sequence[Exchange]) -> int:
    return sum(exchange.seq & 1 for exchange in exchanges)


def timed(run: Callable[[Sequence[Exchange]], int], exchanges: Sequence[Exchange]) -> float:
    infer._FAILED.clear()
    started = time.process_time()
    run(exchanges)
    return time.process_time() - started


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    exchanges = workload(size)
    assert whole(exchanges) == stream(exchanges) > 0
    runs = {"whole": whole, "survey": survey, "stream": stream, "bare": bare}
    best = dict.fromkeys(runs, float("inf"))
    loads = [os.getloadavg()[0]]
    for _ in range(ROUNDS):
        for name, run in runs.items():
            best[name] = min(best[name], timed(run, exchanges))
        loads.append(os.getloadavg()[0])
    print(f"{size:,} exchanges, best of {ROUNDS} interleaved rounds (CPU time)")
    for name, seconds in best.items():
        print(f"  {name:7} {seconds:8.3f} s  {seconds / size * 1e6:7.2f} µs/exchange")
    print(f"  stream (survey included) / whole: {best['stream'] / best['whole']:.2f}x")
    print(f"  survey / bare loop: {best['survey'] / best['bare']:.1f}x "
          f"({(best['survey'] - best['bare']) / size * 1e6:.2f} µs/exchange added)")
    print(f"  load average (1 min) during the run: {min(loads):.1f}-{max(loads):.1f}")


if __name__ == "__main__":
    main()
