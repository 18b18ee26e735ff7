"""CPU time of the proxy's recording path per exchange, against the floor of one dumps and a write.

What the relay thread does for each recorded exchange, in process, with dockerd's exact
RequestAddress bytes and a Go plugin's answer: ``begin``, ``prepare`` (the request's part of
the record, built while the plugin works), ``complete`` (the record and its line, written to a
recording before the answer) and ``publish`` (the same line into a pipe, as the checking sink
and the view get it; ``/dev/null`` here). The floor, measured in the same run: ``json.dumps`` of
the finished record and one ``os.write`` of it to a recording plus one to ``/dev/null``, the
least any recorder that stores this record must do.

CPU time (``time.process_time``), best of the rounds, so the figure holds up on a loaded
machine better than wall time does; the ratio is the claim.

Usage: python bench/record_path.py [--exchanges 3000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ipamx_spy import tap
from ipamx_spy.connection import NEED_DATA, DockerConnection, Request
from ipamx_spy.proxy import ProxySession
from ipamx_spy.recording import FORMAT, VERSION, RecordingWriter

BODY = b'{"PoolID":"LocalDefault/10.4.0.0/16","Address":"","Options":null}\n'
REQUEST = (b"POST /IpamDriver.RequestAddress HTTP/1.1\r\nHost: \r\nUser-Agent: Go-http-client/1.1"
           b"\r\nContent-Length: " + str(len(BODY)).encode() + b"\r\nAccept: application/vnd."
           b"docker.plugins.v1.2+json\r\nContent-Type: application/json\r\nAccept-Encoding: gzip"
           b"\r\n\r\n" + BODY)
ANSWER = b'{"Address":"10.4.0.2/16","Data":null}\n'
RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.plugins.v1+json\r\n"
            b"Date: Wed, 02 Dec 2026 02:00:00 GMT\r\nContent-Length: "
            + str(len(ANSWER)).encode() + b"\r\n\r\n" + ANSWER)


def framed(raw: bytes, request: bool) -> tap.WireMessage:
    framer = tap.RequestTap() if request else tap.ResponseTap()
    framer.feed(raw)
    message = framer.next_message()
    assert isinstance(message, tap.WireMessage)
    return message


class PipeSink:
    """The checking sink's relay side: the encoded line into a pipe (``/dev/null`` here)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def on_line(self, line: bytes) -> None:
        os.write(self.fd, b"R" + line)

    def on_record(self, record: dict[str, Any], exchange: object) -> None:
        raise AssertionError("the proxy gives a line sink the line")

    def on_waiting(self, seq: int, conn: int, endpoint: str, waited_s: float) -> None: ...

    def on_sink_error(self, message: str) -> None: ...


def cpu_us(step: Callable[[], None], count: int, rounds: int) -> float:
    for _ in range(min(500, count)):
        step()
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(count):
            step()
        best = min(best, (time.process_time() - started) / count * 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exchanges", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    request, response = framed(REQUEST, True), framed(RESPONSE, False)
    work = Path(tempfile.mkdtemp(prefix="ipx-rp-"))
    header = {"type": "header", "format": FORMAT, "version": VERSION}
    null = os.open(os.devnull, os.O_WRONLY)
    writer = RecordingWriter(work / "session.jsonl", header)
    session = ProxySession(writer=writer, sinks=[PipeSink(null)])
    conn = session.open()
    last: list[dict[str, Any]] = []

    def recorded() -> None:
        pending = session.begin(conn, request.target)
        session.prepare(pending, request)
        exchange = session.complete(pending, request, response, upstream_ms=0.1)
        session.publish(exchange)
        if not last and exchange is not None:
            last.append(exchange.to_json())

    path_us = cpu_us(recorded, args.exchanges, args.rounds)
    floor_fd = os.open(work / "floor.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    record = last[0]

    def floor() -> None:
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        os.write(floor_fd, line)
        os.write(null, line)

    floor_us = cpu_us(floor, args.exchanges, args.rounds)
    docker, plugin = DockerConnection(), tap.ResponseTap()

    def framing() -> None:
        docker.receive(REQUEST, 0.0)
        event = docker.next_event(0.0)
        assert isinstance(event, Request)
        plugin.expect("POST")
        plugin.feed(RESPONSE)
        answer = plugin.next_message()
        assert isinstance(answer, tap.WireMessage)
        docker.answered(event.message, answer.keep_alive, 0.0)
        assert docker.next_event(0.0) is NEED_DATA  # asked at once, as the relay does

    framing_us = cpu_us(framing, args.exchanges, args.rounds)
    writer.close()
    os.close(floor_fd)
    os.close(null)
    for path in work.iterdir():
        path.unlink()
    work.rmdir()
    print(f"dockerd's RequestAddress, {args.exchanges} exchanges, best of {args.rounds} rounds; "
          f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs, load average "
          f"{os.getloadavg()[0]:.1f}\n")
    print("| path | CPU µs per exchange | vs the floor |")
    print("|---|---:|---:|")
    print(f"| floor: json.dumps of the record, two writes | {floor_us:.1f} | 1.0x |")
    print(f"| ipamx-spy recording path (begin, prepare, complete, publish) | {path_us:.1f} "
          f"| {path_us / floor_us:.1f}x |")
    print(f"| framing both messages (DockerConnection, ResponseTap; not in the floor) "
          f"| {framing_us:.1f} | {framing_us / floor_us:.1f}x |")


if __name__ == "__main__":
    main()
