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
direct p50. Throughput: 8 connections (8 client processes). CPU: what the path's processes
(the relay, its children: socat's per connection, ipamx-spy's checking sink and view) used per
exchange over both measurements, from ``/proc`` (less at the mercy of other load than wall
time). Prints ratios against socat.

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
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from _sockets import wait_socket  # bench/ is on sys.path when a script runs

HERE = Path(__file__).resolve().parent


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
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        sys.exit("a C compiler is needed (apt-get install gcc)")
    client, upstream = work / "client", work / "upstream"
    subprocess.run([gcc, "-O2", "-o", str(client), str(HERE / "c" / "client.c")], check=True)
    subprocess.run([gcc, "-O2", "-o", str(upstream), str(HERE / "c" / "upstream.c"),
                    "-lpthread"], check=True)
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


def measure(client: Path, path: str, requests: int, concurrent: int,
            pid: int | None) -> tuple[float, float, float, float]:
    """p50 and p99 µs (one connection), exchanges/s (8), CPU µs per exchange of ``pid``."""
    before = tree_cpu(pid) if pid is not None else 0.0
    lat = subprocess.run([str(client), path, str(requests), "1"], capture_output=True,
                         text=True, check=True, timeout=600).stdout.split()
    rps = subprocess.run([str(client), path, str(concurrent), "8"], capture_output=True,
                         text=True, check=True, timeout=600).stdout
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
    samples: dict[str, list[tuple[float, float, float, float]]] = {name: [] for name in configs}
    with ExitStack() as stack:
        fixed = ["fixed"] if args.fixed_answer else []
        stack.enter_context(running([str(upstream_bin), upstream, *fixed], upstream))
        pids = {name: stack.enter_context(running(argv, path))
                for name, (path, argv) in configs.items() if argv is not None}
        for _ in range(args.rounds):
            for name, (path, _argv) in configs.items():
                samples[name].append(measure(client, path, args.requests,
                                             args.concurrent_requests, pids.get(name)))
    shutil.rmtree(work, ignore_errors=True)
    results = {name: tuple(statistics.median(s[i] for s in runs) for i in range(4))
               for name, runs in samples.items()}
    report(results, args)


def report(results: dict[str, tuple[float, ...]], args: argparse.Namespace) -> None:
    direct_p50 = results["direct"][0]
    socat_added = max(0.1, results["socat"][0] - direct_p50)
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
        ratio = "-" if baseline else f"{added / socat_added:.1f}x"
        tput = "-" if baseline else f"{rps / socat_rps:.2f}x"
        cpu_text = "-" if math.isnan(cpu) else f"{cpu:.1f}"
        cpu_ratio = "-" if baseline else f"{cpu / socat_cpu:.1f}x"
        print(f"| {name} | {p50:.0f} | {p99:.0f} | {added:.0f} | {ratio} | {rps:,.0f} "
              f"| {tput} | {cpu_text} | {cpu_ratio} |")


if __name__ == "__main__":
    main()
