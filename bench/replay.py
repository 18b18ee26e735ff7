"""Replay throughput on a large synthetic recording, against the in-process reference plugin.

The bench records its own workload first: it drives a reference plugin with N exchanges
(networks created with a static subnet, containers given addresses the allocator picks, then
everything released again) and keeps them as a recording. It then times, in the same run:

* baseline: the same request bodies handed to a fresh plugin's ``handle`` in a plain loop
  (no bindings, no comparison, no ledger);
* replay: ``Replayer`` over the recording against a fresh plugin (rewrite, compare, learn),
  with every verdict's sentence (as ``--json``/``--junit`` report it) and without (as the
  default output and ``-q`` do: ``replay_without_meanings_s``);
* cli: ``ipamx-spy replay FILE`` (default output, and ``-q``) run in this process on the same
  recording written to a file, its output going to a file: reading and decoding the file,
  the engine, the rows and the summary. The bare loop it is divided by holds the bodies in
  memory already, so the CLI's ratio also carries the reading of the file.

The figure that matters is the ratio replay / baseline; absolute numbers depend on the host.
Every figure is this process's CPU time (``time.process_time``): on a shared machine wall time
swings with the other work far more than the ratio does.
Run: ``python bench/replay.py [N]`` (default 10000).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

from ipamx_spy.app import PluginApp
from ipamx_spy.builtin import BuiltinConfig, make_plugin
from ipamx_spy.client import docker_request
from ipamx_spy.recording import Exchange, Message, Recording, encode_body, go_json, make_header
from ipamx_spy.recording_writer import encode_line
from ipamx_spy.replay.compare import Rules
from ipamx_spy.replay.engine import PASS, Replayer
from ipamx_spy.replay.target import ReplayAppTarget

GATEWAY = {"RequestAddressType": "com.docker.network.gateway"}
CONTAINERS = 20  # per network: 1 pool + 1 gateway + 20 addresses, then 22 releases


def _request(endpoint: str, body: Any) -> Message:
    raw = b"" if body is None else (go_json(body) + "\n").encode()
    head = docker_request(endpoint, raw).split(b"\r\n\r\n", 1)[0].decode().split("\r\n")[1:]
    headers = tuple((k, v) for k, _, v in (line.partition(": ") for line in head))
    return Message(method="POST", target=f"/{endpoint}", headers=headers, body=encode_body(raw))


def _network_calls(index: int, space: str) -> list[tuple[str, Callable[[list[Any]], Any]]]:
    subnet = f"10.{index // 256}.{index % 256}.0/24"
    pool = {"AddressSpace": space, "Pool": subnet, "SubPool": "", "Options": {}, "V6": False}
    calls: list[tuple[str, Callable[[list[Any]], Any]]] = [
        ("IpamDriver.RequestPool", lambda a: pool)]
    start = 0

    def pool_id(answers: list[Any]) -> str:
        return str(answers[start]["PoolID"])

    calls.append(("IpamDriver.RequestAddress",
                  lambda a: {"PoolID": pool_id(a), "Address": "", "Options": GATEWAY}))
    calls += [("IpamDriver.RequestAddress",
               lambda a: {"PoolID": pool_id(a), "Address": "", "Options": None})] * CONTAINERS
    for offset in range(CONTAINERS + 1, 0, -1):
        calls.append(("IpamDriver.ReleaseAddress", lambda a, o=offset: {
            "PoolID": pool_id(a), "Address": a[start + o]["Address"].split("/")[0]}))
    calls.append(("IpamDriver.ReleasePool", lambda a: {"PoolID": pool_id(a)}))
    return calls


def make_recording(size: int) -> Recording:
    """``size`` exchanges recorded against the reference plugin."""
    plugin = make_plugin(BuiltinConfig())
    exchanges: list[Exchange] = []
    for endpoint in ("Plugin.Activate", "IpamDriver.GetCapabilities",
                     "IpamDriver.GetDefaultAddressSpaces"):
        exchanges.append(_record(plugin, len(exchanges) + 1, endpoint, None))
    network = 0
    while len(exchanges) < size:
        answers: list[Any] = []
        for endpoint, body in _network_calls(network, "LocalDefault"):
            if len(exchanges) >= size:
                break
            exchange = _record(plugin, len(exchanges) + 1, endpoint, body(answers))
            answers.append(exchange.response.value if exchange.response else None)
            exchanges.append(exchange)
        network += 1
    return Recording(header=make_header(name="bench"), records=(), exchanges=tuple(exchanges))


def _record(plugin: PluginApp, seq: int, endpoint: str, body: Any) -> Exchange:
    request = _request(endpoint, body)
    reply = plugin.handle(endpoint, request.raw_body)
    response = Message(status=reply.status, reason="OK", body=encode_body(reply.body),
                       headers=(("Content-Type", reply.content_type),
                                ("Content-Length", str(len(reply.body)))))
    return Exchange(seq=seq, conn=1 + seq % 2, t=seq / 1000, endpoint=endpoint,
                    request=request, response=response)


def baseline(recording: Recording) -> float:
    plugin = make_plugin(BuiltinConfig())
    calls = [(e.endpoint, e.request.raw_body) for e in recording.exchanges]
    started = time.process_time()
    for endpoint, body in calls:
        plugin.handle(endpoint, body)
    return time.process_time() - started


def replay(recording: Recording, config: BuiltinConfig, *,
           every_meaning: bool = True) -> tuple[float, int]:
    """``every_meaning=False``: as the CLI replays without ``--json``/``--junit`` (a passing
    verdict gets no sentence)."""
    target = ReplayAppTarget(factory=lambda: make_plugin(config), label="bench")
    started = time.process_time()
    verdicts = list(Replayer(recording, target, Rules(), every_meaning=every_meaning).run())
    elapsed = time.process_time() - started
    passed = sum(1 for v in verdicts if v.outcome == PASS)
    return elapsed, passed


def write_recording(recording: Recording, path: str) -> None:
    with open(path, "wb") as file:
        file.write(encode_line(recording.header))
        for exchange in recording.exchanges:
            file.write(encode_line(exchange.to_json()))


def cli(path: str, size: int, *flags: str) -> float:
    """``ipamx-spy replay PATH FLAGS`` in this process, stdout and stderr to a scratch file."""
    from typer.main import get_command

    from ipamx_spy import console
    from ipamx_spy.cli import app

    command = get_command(app)
    with tempfile.TemporaryFile("w+") as sink:
        saved = console.out.file, console.err.file
        console.out.file = console.err.file = sink
        try:
            started = time.process_time()
            with contextlib.suppress(SystemExit):
                command.main(["replay", path, *flags], standalone_mode=True)
            elapsed = time.process_time() - started
        finally:
            console.out.file, console.err.file = saved
        sink.seek(0)
        if f"{size} passed, 0 failed" not in sink.read():
            raise SystemExit("the CLI's replay of the bench's own recording did not pass")
    return elapsed


def main() -> None:
    size = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    recording = make_recording(size)
    base = min(baseline(recording) for _ in range(3))
    same, passed = min(replay(recording, BuiltinConfig()) for _ in range(3))
    terse, passed_terse = min(
        replay(recording, BuiltinConfig(), every_meaning=False) for _ in range(3))
    renamed, passed_renamed = min(
        replay(recording, BuiltinConfig(local_space="blue")) for _ in range(3))
    with tempfile.TemporaryDirectory() as scratch:
        path = os.path.join(scratch, f"bench-{size}.jsonl")
        write_recording(recording, path)
        cli_s = min(cli(path, size) for _ in range(3))
        cli_quiet_s = min(cli(path, size, "-q") for _ in range(3))
    report = {
        "exchanges": size,
        "baseline_s": round(base, 4),
        "replay_s": round(same, 4),
        "replay_renamed_s": round(renamed, 4),
        "baseline_per_s": round(size / base),
        "replay_per_s": round(size / same),
        "replay_renamed_per_s": round(size / renamed),
        "ratio_replay_to_baseline": round(same / base, 2),
        "replay_without_meanings_s": round(terse, 4),
        "ratio_without_meanings_to_baseline": round(terse / base, 2),
        "ratio_renamed_to_baseline": round(renamed / base, 2),
        "cli_s": round(cli_s, 4),
        "cli_quiet_s": round(cli_quiet_s, 4),
        "ratio_cli_to_baseline": round(cli_s / base, 2),
        "ratio_cli_quiet_to_baseline": round(cli_quiet_s / base, 2),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "passed": passed,
        "passed_renamed": passed_renamed,
    }
    print(json.dumps(report, indent=2))
    if passed != size or passed_renamed != size or passed_terse != size:
        raise SystemExit("replay of the bench's own recording did not pass")


if __name__ == "__main__":
    main()
