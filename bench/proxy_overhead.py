"""Added latency and throughput of ipamx-spy, against a direct connection and socat.

Every configuration talks to the same upstream (a small plugin in its own process that answers
RequestPool). All figures come from one run on one machine, so the ratios are what matters:

* latency: one keep-alive connection, N sequential requests, p50/p99 per request;
  "added" = configuration p50 minus the direct p50;
* throughput: 8 concurrent keep-alive connections (8 client processes), requests per second.

Usage: python bench/proxy_overhead.py [--requests 3000] [--concurrent-requests 1000] [--rounds 3]
Needs socat (Debian package socat). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from _sockets import wait_socket  # bench/ is on sys.path when a script runs

BODY = (b'{"AddressSpace":"LocalDefault","Pool":"10.4.4.0/24","SubPool":"",'
        b'"Options":{},"V6":false}\n')
REQUEST = (b"POST /IpamDriver.RequestPool HTTP/1.1\r\nHost: \r\nUser-Agent: Go-http-client/1.1\r\n"
           b"Content-Length: %d\r\nAccept: application/vnd.docker.plugins.v1.2+json\r\n\r\n"
           % len(BODY)) + BODY
ANSWER_BODY = b'{"PoolID":"LocalDefault/10.4.4.0/24","Pool":"10.4.4.0/24","Data":{}}\n'
ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.plugins.v1.2+json\r\n"
          b"Content-Length: %d\r\n\r\n" % len(ANSWER_BODY)) + ANSWER_BODY


def upstream_main(path: str) -> None:
    """A minimal keep-alive plugin: one process, a thread per connection."""
    import threading

    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(64)

    def serve(conn: socket.socket) -> None:
        buffer = b""
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buffer += data
            while (end := buffer.find(b"\r\n\r\n")) >= 0:
                head = buffer[:end]
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                if len(buffer) < end + 4 + length:
                    break
                buffer = buffer[end + 4 + length:]
                conn.sendall(ANSWER)

    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


def read_answer(sock: socket.socket) -> None:
    got = b""
    while len(got) < len(ANSWER):
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        got += chunk


def latencies(path: str, count: int) -> list[float]:
    sock = socket.socket(socket.AF_UNIX)
    sock.connect(path)
    for _ in range(50):  # warm-up
        sock.sendall(REQUEST)
        read_answer(sock)
    out = []
    for _ in range(count):
        started = time.perf_counter_ns()
        sock.sendall(REQUEST)
        read_answer(sock)
        out.append((time.perf_counter_ns() - started) / 1000)
    sock.close()
    return out


def _client(path: str, count: int, queue: multiprocessing.Queue[float]) -> None:
    started = time.perf_counter()
    latencies(path, count)
    queue.put(time.perf_counter() - started)


def throughput(path: str, clients: int, count: int) -> float:
    queue: multiprocessing.Queue[float] = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=_client, args=(path, count, queue))
             for _ in range(clients)]
    started = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - started
    return clients * count / elapsed


@contextmanager
def relay(argv: list[str], path: str) -> Iterator[None]:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_socket(path)
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrent-requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3,
                        help="measure every path this many times, interleaved; report medians")
    args = parser.parse_args()
    if shutil.which("socat") is None:
        sys.exit("socat is needed for the baseline (apt-get install socat)")
    work = Path(tempfile.mkdtemp(prefix="ipx-bench-"))
    upstream = str(work / "up.sock")
    server = multiprocessing.Process(target=upstream_main, args=(upstream,), daemon=True)
    server.start()
    wait_socket(upstream)
    spy = [sys.executable, "-m", "ipamx_spy", "proxy", "--upstream", upstream]
    configs: dict[str, tuple[str, list[str] | None]] = {
        "direct": (upstream, None),
        "socat": (f"{work}/socat.sock",
                  ["socat", f"UNIX-LISTEN:{work}/socat.sock,fork", f"UNIX-CONNECT:{upstream}"]),
        "ipamx-spy (record + live view)": (f"{work}/spy.sock", [
            *spy, "--listen", f"{work}/spy.sock", "--record", str(work / "rec.jsonl"),
            "--control", str(work / "c1.ctl")]),
        "ipamx-spy (record + compact view)": (f"{work}/spyc.sock", [
            *spy, "--listen", f"{work}/spyc.sock", "--compact", "--record",
            str(work / "recc.jsonl"), "--control", str(work / "c2.ctl")]),
        "ipamx-spy (no record, quiet)": (f"{work}/spyq.sock", [
            *spy, "--listen", f"{work}/spyq.sock", "--no-record", "--quiet", "--no-validate",
            "--control", str(work / "c3.ctl")]),
    }
    samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in configs}
    with ExitStack() as stack:
        for path, argv in configs.values():
            if argv is not None:
                stack.enter_context(relay(argv, path))
        for _ in range(args.rounds):
            for name, (path, _argv) in configs.items():
                lat = latencies(path, args.requests)
                rps = throughput(path, 8, args.concurrent_requests)
                samples[name].append((pct(lat, 0.5), pct(lat, 0.99), rps))
    server.terminate()
    shutil.rmtree(work, ignore_errors=True)
    results = {name: tuple(statistics.median(s[i] for s in runs) for i in range(3))
               for name, runs in samples.items()}
    report(results, args)  # type: ignore[arg-type]


def report(results: dict[str, tuple[float, float, float]], args: argparse.Namespace) -> None:
    direct_p50 = results["direct"][0]
    socat_added = results["socat"][0] - direct_p50
    print(f"{args.requests} sequential requests (latency), 8 x {args.concurrent_requests} "
          f"concurrent (throughput), median of {args.rounds} interleaved rounds; "
          f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs\n")
    print("| path | p50 µs | p99 µs | added p50 µs | added p50 vs socat's | req/s (8 conns) |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (p50, p99, rps) in results.items():
        added = p50 - direct_p50
        ratio = "-" if name in {"direct", "socat"} else f"{added / socat_added:.1f}x"
        print(f"| {name} | {p50:.0f} | {p99:.0f} | {added:.0f} | {ratio} | {rps:,.0f} |")


if __name__ == "__main__":
    main()
