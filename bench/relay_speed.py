"""The relay against socat, with a non-Python client and upstream (issue 14's measurement).

``bench/c/client.c`` replays dockerd's exact RequestAddress bytes on keep-alive connections and
``bench/c/upstream.c`` answers them, each answer with the next address of the pool (so the
validator finds nothing, as with a sound plugin; ``--fixed-answer``: the same address every
time, as this bench did before, and the validator finds an address handed out twice on every
exchange, its worst case); both are compiled with the machine's gcc into a temporary directory
at the start of the run. Every path talks to the same upstream, in one run, in
interleaved rounds (medians reported):

* direct: the client on the upstream's socket;
* socat: ``socat UNIX-LISTEN,fork UNIX-CONNECT`` in between;
* bare loop: a Python uvloop ``Protocol`` that copies bytes both ways without framing or
  recording (the floor for a relay written in Python);
* ipamx-spy in several modes.

Latency: one connection, p50/p99 of N sequential exchanges; "added" is a path's p50 minus the
direct p50 (on a quiet machine whose idle CPUs halt, as on the 2-vCPU VM of the README, each
sequential turn wakes a halted CPU, the p50s are mostly that wake-up, and a path in between can
come out faster than direct: then socat's added p50 is not above zero and no ratio to it is
given). Throughput: 8 connections (8 client processes). CPU: what the path's processes
(the relay, its children: socat's per connection, ipamx-spy's checking sink and view) used per
exchange over both measurements, from ``/proc`` (less at the mercy of other load than wall
time). Prints ratios against socat, then each mode against the default one (recording and the
live view) and against socat round by round: the machine's own speed drifts by a quarter within
a minute, and a ratio taken within one round (the paths measured seconds apart) leaves most of
that drift out, where a ratio of two medians keeps it.

Each round measures the paths in turn, starting one path further on than the round before,
and waits after each path until every path's processes are idle again (a spy's niced checking
sink and view may still be working through the last measurement's records).

Usage: python bench/relay_speed.py [--requests 3000] [--concurrent-requests 2000] [--rounds 3]
       [--fixed-answer]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from _sockets import build_c, wait_socket  # bench/ is on sys.path when a script runs

Sample = tuple[float, float, float, float]  # p50 µs, p99 µs, exchanges/s, CPU µs per exchange
THROUGHPUT, CPU = 2, 3  # where a sample has them
DEFAULT_MODE = "ipamx-spy record + live view"


def bare_relay(listen: str, upstream: str) -> None:
    """Copy bytes between each docker-side connection and its own upstream connection."""
    import uvloop

    class Side(asyncio.Protocol):
        peer: asyncio.Transport | None = None
        transport: asyncio.Transport | None = None
        early = b""

        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.transport = transport  # type: ignore[assignment]

        def data_received(self, data: bytes) -> None:
            if self.peer is None:
                self.early += data
            else:
                self.peer.write(data)

        def connection_lost(self, exc: Exception | None) -> None:
            if self.peer is not None:
                self.peer.close()

    class Docker(Side):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(transport)
            asyncio.get_running_loop().create_task(self.dial())

        async def dial(self) -> None:
            loop = asyncio.get_running_loop()
            up_transport, up = await loop.create_unix_connection(Side, upstream)
            up.peer = self.transport
            self.peer = up_transport  # type: ignore[assignment]
            if self.early:
                up_transport.write(self.early)

    async def main() -> None:
        server = await asyncio.get_running_loop().create_unix_server(Docker, listen)
        await server.serve_forever()

    uvloop.run(main())


def compile_c(work: Path) -> tuple[Path, Path]:
    """The C client and the C upstream, built for this run."""
    client, upstream = build_c(work, "client", "upstream")
    return client, upstream


@contextmanager
def running(argv: list[str], path: str) -> Iterator[int]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        wait_socket(path)
        yield proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process, its children (live, or reaped: ``cutime``) and theirs."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = " ".join(p.read_text() for p in Path(f"/proc/{pid}/task").glob("*/children"))
    except OSError:  # gone meanwhile: its parent's cutime has it
        return 0.0
    own = sum(int(f) for f in fields[11:15]) / TICK  # utime stime cutime cstime
    return own + sum(tree_cpu(int(child)) for child in children.split())


def settle(pids: list[int], *, window: float = 0.1, deadline: float = 20.0) -> None:
    """Wait until every path's processes are idle: two windows in a row in which they used
    less than a fifth of a CPU together. A spy's niced children (the checking sink, the view)
    may still be working through what the last measurement sent; left alone, their CPU would
    slow whichever path is measured next, and go uncounted in their own path's figure."""
    quiet_windows = 0
    end = time.monotonic() + deadline
    used = sum(tree_cpu(pid) for pid in pids)
    while quiet_windows < 2 and time.monotonic() < end:
        time.sleep(window)  # a sampling interval of /proc's counters, not a synchronisation
        now = sum(tree_cpu(pid) for pid in pids)
        quiet_windows = quiet_windows + 1 if now - used < window / 5 else 0
        used = now


def measure(client: Path, path: str, requests: int, concurrent: int,
            pid: int | None, everyone: list[int]) -> Sample:
    """p50 and p99 µs (one connection), exchanges/s (8), CPU µs per exchange of ``pid`` (what
    it used until every path was idle again)."""
    before = tree_cpu(pid) if pid is not None else 0.0
    lat = subprocess.run([str(client), path, str(requests), "1"], capture_output=True,
                         text=True, check=True, timeout=600).stdout.split()
    rps = subprocess.run([str(client), path, str(concurrent), "8"], capture_output=True,
                         text=True, check=True, timeout=600).stdout
    settle(everyone)
    cpu = (tree_cpu(pid) - before) if pid is not None else math.nan
    exchanges = requests + 200 + 8 * concurrent  # the client warms up with 200
    return float(lat[0]), float(lat[1]), float(rps), cpu / exchanges * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrent-requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fixed-answer", action="store_true",
                        help="the upstream answers one address every time (a finding per "
                             "exchange)")
    parser.add_argument("--bare-relay", nargs=2, metavar=("LISTEN", "UPSTREAM"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_relay:
        bare_relay(*args.bare_relay)
        return
    if shutil.which("socat") is None:
        sys.exit("socat is needed for the baseline (apt-get install socat)")
    work = Path(tempfile.mkdtemp(prefix="ipx-rs-", dir="/tmp"))
    client, upstream_bin = compile_c(work)
    upstream = str(work / "up.sock")
    spy = [sys.executable, "-m", "ipamx_spy", "proxy", "--upstream", upstream]

    def spy_path(tag: str, *extra: str) -> tuple[str, list[str]]:
        path = f"{work}/spy-{tag}.sock"  # never the bare loop's socket (an earlier clash)
        record = ["--record", f"{work}/{tag}.jsonl"] if "--no-record" not in extra else []
        return path, [*spy, "--listen", path, "--control", f"{work}/{tag}.ctl", *record, *extra]

    configs: dict[str, tuple[str, list[str] | None]] = {
        "direct": (upstream, None),
        "socat": (f"{work}/socat.sock", ["socat", f"UNIX-LISTEN:{work}/socat.sock,fork",
                                         f"UNIX-CONNECT:{upstream}"]),
        "bare loop (Python, uvloop, no framing)": (f"{work}/bare.sock", [
            sys.executable, str(Path(__file__).resolve()), "--bare-relay", f"{work}/bare.sock",
            upstream]),
        "ipamx-spy record + live view": spy_path("full"),
        "ipamx-spy record + compact view": spy_path("compact", "--compact"),
        "ipamx-spy record --quiet": spy_path("quiet", "--quiet"),
        "ipamx-spy record --json": spy_path("json", "--json"),
        "ipamx-spy --no-record --quiet --no-validate": spy_path(
            "unrecorded", "--no-record", "--quiet", "--no-validate"),
    }
    samples: dict[str, list[Sample]] = {name: [] for name in configs}
    with ExitStack() as stack:
        fixed = ["fixed"] if args.fixed_answer else []
        stack.enter_context(running([str(upstream_bin), upstream, *fixed], upstream))
        pids = {name: stack.enter_context(running(argv, path))
                for name, (path, argv) in configs.items() if argv is not None}
        everyone = list(pids.values())
        names = list(configs)
        settle(everyone)
        for round_number in range(args.rounds):
            # each round starts one path further on: no path is always measured first or
            # right after the same other one
            shift = round_number % len(names)
            for name in names[shift:] + names[:shift]:
                samples[name].append(measure(client, configs[name][0], args.requests,
                                             args.concurrent_requests, pids.get(name),
                                             everyone))
    shutil.rmtree(work, ignore_errors=True)
    results = {name: tuple(statistics.median(s[i] for s in runs) for i in range(4))
               for name, runs in samples.items()}
    report(results, args)
    report_paired(samples)


def report(results: dict[str, tuple[float, ...]], args: argparse.Namespace) -> None:
    direct_p50 = results["direct"][0]
    socat_added = results["socat"][0] - direct_p50
    socat_rps = results["socat"][2]
    socat_cpu = results["socat"][3]
    answers = "one address every time (a finding per exchange)" if args.fixed_answer else \
        "a new address each time"
    print(f"C client and C upstream ({answers}), dockerd's RequestAddress bytes; "
          f"{args.requests} sequential "
          f"exchanges (latency), 8 x {args.concurrent_requests} concurrent (throughput), median "
          f"of {args.rounds} interleaved rounds; Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}\n")
    print("| path | p50 µs | p99 µs | added p50 µs | added p50 vs socat's | exchanges/s "
          "(8 conns) | vs socat's | CPU µs per exchange | vs socat's |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, (p50, p99, rps, cpu) in results.items():
        added = p50 - direct_p50
        baseline = name in {"direct", "socat"}
        ratio = "-" if baseline or socat_added < 1 else f"{added / socat_added:.1f}x"
        tput = "-" if baseline else f"{rps / socat_rps:.2f}x"
        cpu_text = "-" if math.isnan(cpu) else f"{cpu:.1f}"
        cpu_ratio = "-" if baseline else f"{cpu / socat_cpu:.1f}x"
        print(f"| {name} | {p50:.0f} | {p99:.0f} | {added:.0f} | {ratio} | {rps:,.0f} "
              f"| {tput} | {cpu_text} | {cpu_ratio} |")
    if socat_added < 1:
        print(f"\nsocat's added p50 is {socat_added:.0f} µs: the sequential p50s are the wake-up "
              "of a halted CPU more than any path's work, so no latency ratio to socat is given")


def paired(samples: dict[str, list[Sample]], name: str, base: str,
           field: int) -> tuple[float, float, float]:
    """Median, lowest and highest of ``name``'s figure over ``base``'s, round by round."""
    ratios = [mine[field] / theirs[field] for mine, theirs in zip(samples[name], samples[base],
                                                               strict=True)]
    return statistics.median(ratios), min(ratios), max(ratios)


def report_paired(samples: dict[str, list[Sample]]) -> None:
    print(f"\nRound by round (median, lowest-highest of {len(samples['socat'])} rounds): "
          "exchanges/s against socat's and against the default mode's, CPU per exchange "
          "against the default mode's\n")
    print("| path | exchanges/s vs socat's | exchanges/s vs default's | CPU vs default's |")
    print("|---|---:|---:|---:|")
    for name in samples:
        if not name.startswith("ipamx-spy"):
            continue
        cells = [paired(samples, name, base, field) for base, field in
                 (("socat", THROUGHPUT), (DEFAULT_MODE, THROUGHPUT), (DEFAULT_MODE, CPU))]
        print(f"| {name} | " + " | ".join(
            f"{median:.2f}x ({low:.2f}-{high:.2f})" for median, low, high in cells) + " |")


if __name__ == "__main__":
    main()
