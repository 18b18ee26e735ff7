"""CPU time of the checking sink per line, in process, against a bare ``json.loads`` of the line.

The lines are the relay bench's (``bench/relay_speed.py``) as the proxy writes them: dockerd's
exact RequestAddress bytes on 8 connections, each answer the next address of 10.0.0.0/8 (so
the validator finds nothing), made by a real ``ProxySession`` and taken from the line it hands
its sinks. ``--fixed-answer``: the same address every time (a finding per exchange, the
validator's worst case). Timed, best of the rounds, ``time.process_time``:

* bare: ``json.loads`` of each line (the floor of any reader of the line);
* checking sink: ``live.LineChecker.check_line`` on each line (the child's own method in a
  tree from before it), as the sink's child process
  runs it (validator, dockerd's verdict, the results written out, the view's lines made), a
  fresh one per round (the validator's ledger grows with the session);
* checking sink, no view: the same without lines to forward (``proxy --quiet``);
* verdicts only: the sink without a validator (``--no-validate``), dockerd's verdicts alone.

Usage: python bench/checking_sink.py [--exchanges 20000] [--rounds 5] [--fixed-answer]
       [--profile]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from ipamx_spy import tap
from ipamx_spy.live import DetachedChecker, dockerd_fails
from ipamx_spy.proxy import ProxySession
from ipamx_spy.validate import Validator

BODY = b'{"PoolID":"LocalDefault/10.0.0.0/8","Address":"","Options":{}}\n'
REQUEST = (b"POST /IpamDriver.RequestAddress HTTP/1.1\r\nHost: \r\nUser-Agent: Go-http-client/1.1"
           b"\r\nContent-Length: " + str(len(BODY)).encode() + b"\r\nAccept: application/vnd."
           b"docker.plugins.v1.2+json\r\nContent-Type: application/json\r\nAccept-Encoding: gzip"
           b"\r\n\r\n" + BODY)
HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.plugins.v1.2+json\r\n"
        b"Date: Tue, 01 Dec 2026 00:00:00 GMT\r\nContent-Length: %d\r\n\r\n")
CONNECTIONS = 8


def framed(raw: bytes, request: bool) -> tap.WireMessage:
    framer = tap.RequestTap() if request else tap.ResponseTap()
    framer.feed(raw)
    message = framer.next_message()
    assert isinstance(message, tap.WireMessage)
    return message


def answer(n: int, fixed: bool) -> tap.WireMessage:
    n = 0 if fixed else n
    body = b'{"Address":"10.%d.%d.%d/8","Data":{}}\n' % (n >> 16 & 255, n >> 8 & 255,
                                                         (n & 255) + 2 if n < 254 else n & 255)
    return framed(HEAD % len(body) + body, False)


class Lines:
    """A sink that keeps the lines the session hands its sinks."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []

    def on_line(self, line: bytes) -> None:
        self.lines.append(b"R" + line.rstrip(b"\n"))

    def on_record(self, record: dict[str, Any], exchange: object) -> None:
        raise AssertionError("the proxy gives a line sink the line")

    def on_waiting(self, seq: int, conn: int, endpoint: str, waited_s: float) -> None: ...

    def on_sink_error(self, message: str) -> None: ...


def session_lines(count: int, fixed: bool) -> list[bytes]:
    sink = Lines()
    session = ProxySession(writer=None, sinks=[sink])
    request = framed(REQUEST, True)
    conns = [session.open() for _ in range(CONNECTIONS)]
    for n in range(count):
        pending = session.begin(conns[n % CONNECTIONS], request.target)
        session.prepare(pending, request)
        exchange = session.complete(pending, request, answer(n + 1, fixed), upstream_ms=0.05)
        session.publish(exchange)
    for conn in conns:
        session.close(conn, "docker side closed the connection")
    return sink.lines


def best_of(rounds: int, run: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        run()
        best = min(best, time.process_time() - started)
    return best


def bare(lines: list[bytes]) -> None:
    for line in lines:
        json.loads(line[1:])


def line_checker(validate: bool = True) -> Callable[[bytes, Any, list[bytes] | None], None]:
    """The checking sink's work on one line, as its child process does it (in a tree older
    than ``live.LineChecker``, the child's own method, on a checker without its process);
    ``validate=False``: verdicts only (``--no-validate``)."""
    validator = Validator(slow_ms=1000.0) if validate else None
    try:
        from ipamx_spy.live import LineChecker
    except ImportError:
        old: Any = object.__new__(DetachedChecker)
        old.__dict__.update(_checker=validator, _docker_version="20.10.24", _requests={},
                            _same_shape={}, _verdict=dockerd_fails)
        return old._check_line  # type: ignore[no-any-return]
    return LineChecker(validator, docker_version="20.10.24").check_line


def sink(lines: list[bytes], view: bool, validate: bool = True) -> int:
    check = line_checker(validate)
    out = io.BytesIO()
    forward: list[bytes] | None = [] if view else None
    for line in lines:
        check(line, out, forward)
    return out.getvalue().count(b'{"finding"')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exchanges", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--fixed-answer", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile one round of the sink")
    args = parser.parse_args()
    lines = session_lines(args.exchanges, args.fixed_answer)
    findings = sink(lines, True)
    if args.profile:
        import cProfile
        import pstats

        profile = cProfile.Profile()
        profile.runcall(sink, lines, True)
        stats = pstats.Stats(profile).sort_stats(os.environ.get("SORT", "tottime"))
        stats.print_stats(int(os.environ.get("TOP", "25")))
        return
    times = {"bare json.loads of the line": 0.0, "checking sink": 0.0,
             "checking sink, no view": 0.0, "verdicts only (--no-validate)": 0.0}
    for _ in range(args.rounds):  # alternately, so the load hits each alike
        times["bare json.loads of the line"] = min(
            times["bare json.loads of the line"] or float("inf"), best_of(1, lambda: bare(lines)))
        times["checking sink"] = min(times["checking sink"] or float("inf"),
                                     best_of(1, lambda: sink(lines, True)))
        times["checking sink, no view"] = min(times["checking sink, no view"] or float("inf"),
                                              best_of(1, lambda: sink(lines, False)))
        times["verdicts only (--no-validate)"] = min(
            times["verdicts only (--no-validate)"] or float("inf"),
            best_of(1, lambda: sink(lines, False, validate=False)))
    answers = "one address every time" if args.fixed_answer else "a new address each time"
    print(f"{len(lines):,} lines ({args.exchanges:,} RequestAddress exchanges, {answers}, "
          f"{findings:,} findings), best of {args.rounds}; Python {sys.version.split()[0]}, "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print("| path | CPU µs per line | vs bare json.loads |")
    print("|---|---:|---:|")
    floor = times["bare json.loads of the line"]
    for name, elapsed in times.items():
        print(f"| {name} | {elapsed / len(lines) * 1e6:.1f} | {elapsed / floor:.1f}x |")


if __name__ == "__main__":
    main()
