"""Python work per exchange on the relay's path, counted (opcodes and calls), not timed.

The timing benchmarks of this directory swing by a quarter within a minute on a shared
machine, which hides a change of a few microseconds per exchange. This one counts instead: the
Python opcodes executed and the Python functions called (``sys.settrace`` with opcode events)
for one exchange of dockerd's exact ``RequestAddress`` bytes, handed to the relay's docker-side
protocol (``ipamx_spy.aio.relay.DockerProtocol``, on the event loop the relay runs on) with a
transport that keeps what is written instead of a socket. The count is the same on every run
and every machine with the same Python and code (within a few opcodes: the answer's head is
made again each second), so a change to the relay's path can be judged by a count that does
not drift.

Rows, each with the built-in plugin answering in process:

* baseline: the plugin's own call (``PluginApp.handle``), what the relay wraps;
* ``serve``: the relay without recording (``ipamx-spy serve``);
* ``proxy --quiet``: the relay recording into a file;
* ``proxy`` with a live sink: the same, the line also going to a line sink (the view's and the
  checking sink's pipe, ``/dev/null`` here).

"added" is the row's count minus the baseline's: the relay's own work around the plugin's call.
C code (the event loop, ``json``, ``re``, the writes) is not counted; the timing benchmarks
cover it. ``--top N`` lists, for each relay row, the functions adding the most opcodes to the
baseline's.

Usage: python bench/relay_work.py [--exchanges 300] [--top 0]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Any

from record_path import PipeSink  # bench/ is on sys.path when a script runs

from ipamx_spy.aio.relay import Relay, RelayOptions
from ipamx_spy.aio.server import event_loop_runner
from ipamx_spy.builtin import BuiltinConfig, make_plugin
from ipamx_spy.proxy import ProxySession
from ipamx_spy.recording import FORMAT, VERSION, RecordingWriter

POOL = "10.0.0.0/16"
BODY = (json.dumps({"PoolID": f"LocalDefault/{POOL}", "Address": "", "Options": None},
                   separators=(",", ":")) + "\n").encode()
REQUEST = (b"POST /IpamDriver.RequestAddress HTTP/1.1\r\nHost: \r\nUser-Agent: Go-http-client/1.1"
           b"\r\nContent-Length: " + str(len(BODY)).encode() + b"\r\nAccept: application/vnd."
           b"docker.plugins.v1.2+json\r\nContent-Type: application/json\r\nAccept-Encoding: gzip"
           b"\r\n\r\n" + BODY)
WARM_UP = 50


class KeptTransport:
    """The docker side's transport: what the relay writes is kept, one answer at a time."""

    def __init__(self) -> None:
        self.written: list[bytes] = []

    def write(self, data: bytes) -> None:
        self.written.append(data)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default


class Count:
    """Opcodes and calls per code object while tracing is on."""

    def __init__(self) -> None:
        self.opcodes: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()

    def trace(self, frame: FrameType, event: str, _arg: Any) -> Callable[..., Any]:
        frame.f_trace_opcodes = True
        if event == "opcode":
            self.opcodes[_where(frame)] += 1
        elif event == "call":
            self.calls[_where(frame)] += 1
        return self.trace


def _where(frame: FrameType) -> str:
    code = frame.f_code
    return f"{Path(code.co_filename).name}:{code.co_firstlineno} {code.co_qualname}"


def counted(step: Callable[[], None], exchanges: int) -> Count:
    for _ in range(WARM_UP):
        step()
    count = Count()
    sys.settrace(count.trace)
    try:
        for _ in range(exchanges):
            step()
    finally:
        sys.settrace(None)
    return count


def fresh_plugin() -> Any:
    plugin = make_plugin(BuiltinConfig())
    pool = {"AddressSpace": "LocalDefault", "Pool": POOL, "SubPool": "", "Options": {},
            "V6": False}
    plugin.handle("IpamDriver.RequestPool", json.dumps(pool).encode())
    return plugin


def relayed(session: ProxySession, exchanges: int) -> Count:
    relay = Relay(session, RelayOptions(upstream=None, app=fresh_plugin()))
    protocol = relay.protocol()
    transport = KeptTransport()
    protocol.connection_made(transport)  # type: ignore[arg-type]

    def step() -> None:
        protocol.data_received(REQUEST)
        answer = transport.written.pop()
        if not answer.startswith(b"HTTP/1.1 200 "):
            raise RuntimeError(f"the relay did not answer 200: {answer[:200]!r}")

    try:
        return counted(step, exchanges)
    finally:
        relay.close()


async def measure(exchanges: int, work: Path) -> dict[str, Count]:
    plugin = fresh_plugin()
    rows = {"baseline: the plugin's call, in process": counted(
        lambda: plugin.handle("IpamDriver.RequestAddress", BODY), exchanges)}
    rows["serve (relay, no recording)"] = relayed(ProxySession(writer=None), exchanges)
    header = {"type": "header", "format": FORMAT, "version": VERSION}
    writer = RecordingWriter(work / "quiet.jsonl", header)
    try:
        rows["proxy --quiet (relay, recording)"] = relayed(ProxySession(writer=writer),
                                                           exchanges)
    finally:
        writer.close()
    null = os.open(os.devnull, os.O_WRONLY)
    writer = RecordingWriter(work / "view.jsonl", header)
    try:
        rows["proxy, recording and a live sink"] = relayed(
            ProxySession(writer=writer, sinks=[PipeSink(null)]), exchanges)
    finally:
        writer.close()
        os.close(null)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exchanges", type=int, default=300)
    parser.add_argument("--top", type=int, default=0,
                        help="list the N functions with the most opcodes on each relay row")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ipx-work-") as work:
        rows: dict[str, Count] = {}

        async def run() -> None:
            rows.update(await measure(args.exchanges, Path(work)))

        event_loop_runner()(run())
    n = args.exchanges
    base = rows[next(iter(rows))]
    base_ops, base_calls = base.opcodes.total() / n, base.calls.total() / n
    print(f"dockerd's RequestAddress, {n} exchanges after {WARM_UP}; Python "
          f"{sys.version.split()[0]}\n")
    print("| path | opcodes per exchange | added | calls per exchange | added |")
    print("|---|---:|---:|---:|---:|")
    for name, count in rows.items():
        ops, calls = count.opcodes.total() / n, count.calls.total() / n
        print(f"| {name} | {ops:.0f} | {ops - base_ops:+.0f} | {calls:.0f} | "
              f"{calls - base_calls:+.0f} |")
    if args.top:
        for name, count in list(rows.items())[1:]:
            added = count.opcodes - base.opcodes  # the plugin's own functions cancel out
            print(f"\n{name}: the {args.top} functions adding the most opcodes per exchange\n")
            for where, ops in added.most_common(args.top):
                calls = (count.calls[where] - base.calls[where]) / n
                print(f"  {ops / n:7.1f} opcodes {calls:5.1f} calls  {where}")


if __name__ == "__main__":
    main()
