"""Cost of the validator per exchange, against baselines measured in the same run.

The workload is ``bench/replay.py``'s: N exchanges recorded against the in-process reference
plugin (networks with a static subnet, a gateway and 20 container addresses each, all released
again), so every answer is a plain one, as in most real sessions. Timed, best of five:

* bare loop: a Python loop calling a no-op function with each exchange (the floor);
* record round trip: each exchange as the proxy writes it and a reader reads it back
  (``to_json``, ``json.dumps``, ``json.loads``, ``Exchange.from_json``);
* validator: ``Validator.check`` on each exchange in order (a fresh validator per pass);
* validator, full path: the same with the fast lane switched off (every check, every
  exchange), which is what every exchange cost before the fast lane.

The figures that matter are the ratios; wall-clock numbers depend on the host and its load.
Run: ``python bench/validator.py [N]`` (default 5000).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence

from replay import make_recording  # bench/ is on sys.path when a script runs

from ipamx_spy.recording import Exchange
from ipamx_spy.validate import Validator

PASSES = 5


def _best(run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(PASSES):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return best


def bare(exchanges: Sequence[Exchange]) -> None:
    def nothing(_exchange: Exchange) -> None:
        return None

    for exchange in exchanges:
        nothing(exchange)


def round_trip(exchanges: Sequence[Exchange]) -> None:
    for exchange in exchanges:
        Exchange.from_json(json.loads(json.dumps(exchange.to_json())))


def validate(exchanges: Sequence[Exchange], *, fast: bool = True) -> int:
    validator = Validator(fast_lane=fast)
    for exchange in exchanges:
        validator.check(exchange)
    return len(validator.findings)


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    exchanges = make_recording(size).exchanges
    findings = validate(exchanges), validate(exchanges, fast=False)
    if findings != (0, 0):
        raise SystemExit(f"the bench's own recording has findings {findings}: not plain")
    times = {
        "bare_loop": _best(lambda: bare(exchanges)),
        "record_round_trip": _best(lambda: round_trip(exchanges)),
        "validator": _best(lambda: validate(exchanges)),
        "validator_full_path": _best(lambda: validate(exchanges, fast=False)),
    }
    per = {name: elapsed / size * 1e6 for name, elapsed in times.items()}
    report = {
        "exchanges": size,
        **{f"{name}_us": round(us, 2) for name, us in per.items()},
        "ratio_validator_to_round_trip": round(per["validator"] / per["record_round_trip"], 3),
        "ratio_validator_to_bare_loop": round(per["validator"] / per["bare_loop"], 1),
        "ratio_full_path_to_round_trip": round(
            per["validator_full_path"] / per["record_round_trip"], 2),
        "speedup_fast_lane": round(per["validator_full_path"] / per["validator"], 1),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
