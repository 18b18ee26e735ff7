"""Lines the checking sink skips under the relay bench's load, for one or more source trees.

``bench/relay_speed.py``'s traffic (its C client and C upstream: dockerd's RequestAddress bytes,
8 connections, a new address each answer) through ``ipamx-spy proxy --record FILE`` of each
tree given (``PYTHONPATH`` set to it), the trees alternated round by round. The relay runs at
the bench's priority and the checking sink, as always, 10 nice levels below it. Printed per
tree and round: exchanges/s, the records the sink skipped (the proxy's summary line on stderr:
``the validator lagged and skipped N record(s)``) of all it was handed, and the CPU the sink's
process (``ipamx-spy check``) used per line it checked (``/proc``, its utime + stime).

Usage: python bench/sink_skips.py [--concurrent-requests 5000] [--rounds 3] [--mode quiet]
       TREE [TREE ...]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _sockets import wait_socket  # bench/ is on sys.path when a script runs
from relay_speed import TICK, compile_c

SKIPPED = re.compile(rb"skipped (\d+) record")
MODES = {"quiet": ["--quiet"], "full": [], "compact": ["--compact"], "json": ["--json"]}


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(c) for c in task.read_text().split()]
    return found


def sink_cpu(proxy: int) -> float:
    """CPU seconds of the proxy's child named ``ipamx-spy check`` (0 when it is not found)."""
    for child in children(proxy):
        try:
            if Path(f"/proc/{child}/comm").read_text().strip() == "ipamx-spy check":
                fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
                return (int(fields[11]) + int(fields[12])) / TICK
        except OSError:
            continue
    return 0.0


def idle_cpu(proxy: int, limit_s: float = 30.0) -> float:
    """The sink's CPU once it has read what was left in its pipe (its CPU unchanged over
    0.2 s), bounded."""
    last, deadline = -1.0, time.monotonic() + limit_s
    while time.monotonic() < deadline:
        now = sink_cpu(proxy)
        if now == last:
            return now
        last = now
        time.sleep(0.2)
    return last


def one_run(tree: str, client: Path, upstream: str, work: Path, concurrent: int,
            mode: str, tag: str) -> tuple[float, int, int, float]:
    """exchanges/s, skipped records, records handed to the sink, sink CPU µs per checked line."""
    listen, record = f"{work}/{tag}.sock", work / f"{tag}.jsonl"
    argv = [sys.executable, "-m", "ipamx_spy", "proxy", "--upstream", upstream, "--listen",
            listen, "--control", f"{work}/{tag}.ctl", "--record", str(record), *MODES[mode]]
    env = {**os.environ, "PYTHONPATH": tree}
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env,
                            start_new_session=True, cwd=work)
    try:
        wait_socket(listen)
        rps = float(subprocess.run([str(client), listen, str(concurrent), "8"],
                                   capture_output=True, text=True, check=True,
                                   timeout=600).stdout)
        cpu = idle_cpu(proc.pid)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    skipped = sum(int(n) for n in SKIPPED.findall(err.split(b"validator lagged")[-1][:200])) \
        if b"validator lagged" in err else 0
    records = sum(1 for _ in record.open("rb")) - 1  # all but the header
    record.unlink()
    checked = max(1, records - skipped)
    return rps, skipped, records, cpu / checked * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs="+")
    parser.add_argument("--concurrent-requests", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mode", choices=sorted(MODES), default="quiet")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ipx-sk-", dir="/tmp"))
    client, upstream_bin = compile_c(work)
    upstream = str(work / "up.sock")
    up = subprocess.Popen([str(upstream_bin), upstream], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, start_new_session=True)
    results: dict[str, list[tuple[float, int, int, float]]] = {t: [] for t in args.trees}
    try:
        wait_socket(upstream)
        for round_ in range(args.rounds):
            for index, tree in enumerate(args.trees):
                result = one_run(tree, client, upstream, work, args.concurrent_requests,
                                 args.mode, f"t{index}r{round_}")
                results[tree].append(result)
                rps, skipped, records, us = result
                print(f"round {round_ + 1} {tree}: {rps:,.0f}/s, skipped {skipped:,} of "
                      f"{records:,} ({skipped / max(1, records):.0%}), sink {us:.1f} µs per "
                      f"checked line; load {os.getloadavg()[0]:.1f}", flush=True)
    finally:
        up.send_signal(signal.SIGTERM)
        up.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n8 x {args.concurrent_requests} RequestAddress, --{args.mode}, "
          f"{args.rounds} rounds (medians); {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}")
    for tree, runs in results.items():
        share = statistics.median(s / max(1, r) for _, s, r, _ in runs)
        print(f"{tree}: {statistics.median(r[0] for r in runs):,.0f}/s, skipped "
              f"{share:.0%} of the records, sink "
              f"{statistics.median(r[3] for r in runs):.1f} µs per checked line")


if __name__ == "__main__":
    main()
