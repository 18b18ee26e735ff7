"""Start-up time of the command line against ``python -c pass`` in the same run.

Each round starts, interleaved: ``python -c pass`` (the baseline), ``python -m ipamx_spy
--version`` and ``python -m ipamx_spy --help``. Prints the median wall time of each and its
ratio to the baseline (targets: 5x for --version and --help).

Usage: python bench/cli_start.py [--rounds 15]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

RUNS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "ipamx-spy --version": [sys.executable, "-m", "ipamx_spy", "--version"],
    "ipamx-spy --help": [sys.executable, "-m", "ipamx_spy", "--help"],
}


def once(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, timeout=120)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in RUNS}
    for _ in range(args.rounds):
        for name, argv in RUNS.items():
            times[name].append(once(argv))
    base = statistics.median(times["python -c pass"])
    print(f"Python {sys.version.split()[0]}; median of {args.rounds} interleaved rounds\n")
    print("| command | wall ms | × python -c pass |")
    print("|---|---:|---:|")
    for name, got in times.items():
        median = statistics.median(got)
        print(f"| `{name}` | {median * 1000:.0f} | {median / base:.1f}× |")


if __name__ == "__main__":
    main()
