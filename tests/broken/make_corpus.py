"""Regenerate the broken-exchange corpus: ``python tests/broken/make_corpus.py``.

Each recording is a realistic session (the dockerd emulator, 20.10, playing a short scenario
against ``ProbePlugin`` told to misbehave once) or, for what no plugin answer can cause, a
hand-built one. The header's ``expected_findings`` lists the codes ``ipamx-spy check`` must
report, once each, in any order. ``plugin-errors.jsonl`` is not generated: it is a real
capture of dockerd 20.10.24 (see its header).
"""

from __future__ import annotations

import dataclasses
import json
import random
import sys
from collections.abc import Callable
from pathlib import Path

from ipamx_spy import recording
from ipamx_spy.address import Address
from ipamx_spy.app import Reply
from ipamx_spy.dockerd.versions import VERSION_ROWS
from ipamx_spy.emulator import scenario
from ipamx_spy.emulator.daemon import Daemon
from ipamx_spy.emulator.driver import (
    EmulatorAppTarget,
    EmulatorNoAnswer,
    EmulatorSession,
    WireReply,
)
from ipamx_spy.emulator.ids import RandomIds
from ipamx_spy.emulator.probe import ProbePlugin
from ipamx_spy.noanswer import NoAnswerKind

HERE = Path(__file__).parent
TALK = """
docker network create --ipam-driver ipamx --subnet 10.4.4.0/24 talknet
docker run -d --name c1 --net talknet bb sleep 1000
docker run -d --name c2 --net talknet bb sleep 1000
docker stop c1
docker stop c2
docker network rm talknet
"""
DRIVER = """
docker network create -d ipamx --ipam-driver ipamx --subnet 10.7.0.0/24 n7
docker run -d --name e1 --net n7 bb sleep 1000
docker stop e1
docker network rm n7
"""


def json_reply(status: int, text: str, content_type: str = "application/json") -> Reply:
    return Reply(status=status, body=text.encode(), content_type=content_type)


class Clock:
    """A clock that moves only when dockerd's backoff sleeps (and by 1 ms per reading)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 0.001
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@dataclasses.dataclass
class HangUpOnce:
    """A target that drops the first request to ``endpoint`` after reading it."""

    inner: EmulatorAppTarget
    endpoint: str
    address: Address = dataclasses.field(default_factory=lambda: Address(kind="builtin"))
    dropped: bool = False

    @property
    def connected(self) -> bool:
        return self.inner.connected

    def send(self, raw: bytes, endpoint: str, body: bytes) -> WireReply:
        if endpoint == self.endpoint and not self.dropped:
            self.dropped = True
            raise EmulatorNoAnswer(NoAnswerKind.CLOSED, "EOF")
        return self.inner.send(raw, endpoint, body)

    def close(self) -> None:
        self.inner.close()


def play(path: Path, expected: list[str], text: str, plugin: ProbePlugin,
         wrap: Callable[[EmulatorAppTarget], object] = lambda t: t) -> None:
    version = VERSION_ROWS["20.10"]
    rng = random.Random(path.name)
    clock = Clock()
    header = recording.make_header(name=path.stem, source="tests/broken/make_corpus.py",
                                   docker_version="20.10", expected_findings=expected)
    header["started"] = "2026-01-01T00:00:00.000000Z"
    path.unlink(missing_ok=True)
    writer = recording.RecordingWriter(path, header)
    daemon = Daemon(version, ids=RandomIds(rng=rng), rng=rng)
    session = EmulatorSession(daemon, wrap(EmulatorAppTarget(plugin)), writer=writer,  # type: ignore[arg-type]
                      sleep=clock.sleep, clock=clock)
    for step in scenario.parse(text):
        session.play(step)
    session.close()
    writer.close()


def handmade(path: Path, expected: list[str], exchanges: list[recording.Exchange]) -> None:
    header = recording.make_header(name=path.stem, source="tests/broken/make_corpus.py",
                                   docker_version="20.10", expected_findings=expected)
    header["started"] = "2026-01-01T00:00:00.000000Z"
    lines = [header, *(e.to_json() for e in exchanges)]
    path.write_text("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in lines))


def exchange(seq: int, endpoint: str, request: bytes, answer: bytes, status: int | None = 200,
             t: float = 0.0, duration_ms: float = 0.5) -> recording.Exchange:
    head = (("Host", ""), ("User-Agent", "Go-http-client/1.1"),
            ("Content-Length", str(len(request))),
            ("Accept", "application/vnd.docker.plugins.v1.2+json"))
    response = None if status is None else recording.Message(
        status=status, reason="OK" if status == 200 else "Error",
        body=recording.encode_body(answer),
        headers=(("Content-Type", "application/json"), ("Content-Length", str(len(answer)))))
    fault = None if status is not None else recording.Fault(
        side="plugin", kind="hangup", message="the plugin closed the connection without an answer")
    return recording.Exchange(
        seq=seq, conn=1, t=t, endpoint=endpoint, duration_ms=duration_ms, fault=fault,
        request=recording.Message(method="POST", target=f"/{endpoint}", headers=head,
                                  body=recording.encode_body(request)),
        response=response)


ACTIVATE = (b"", b'{"Implements":["IpamDriver"]}\n')
POOL_REQUEST = b'{"AddressSpace":"l","Pool":"%s","SubPool":"","Options":{},"V6":false}\n'


def main() -> None:
    fault: dict[str, tuple[str | list[str], str, Reply]] = {
        "empty-200": ("IPX102", "IpamDriver.RequestPool", json_reply(200, "")),
        "ipam-err-field": (["IPX104", "IPX202"], "IpamDriver.RequestAddress",
                           json_reply(200, '{"Err":"pool exhausted"}\n')),
        "non200-plain-text": ("IPX101", "IpamDriver.RequestPool",
                              json_reply(500, "internal error\n", "text/plain")),
        "non200-error-field": ("IPX105", "IpamDriver.RequestPool",
                               json_reply(500, '{"Error":"no pool"}\n')),
        "bool-as-string": ("IPX201", "IpamDriver.GetCapabilities",
                           json_reply(200, '{"RequiresMACAddress":"true"}\n')),
        "address-without-prefix": ("IPX203", "IpamDriver.RequestAddress",
                                   json_reply(200, '{"Address":"10.4.4.1"}\n')),
        "invalid-cidr": ("IPX204", "IpamDriver.RequestPool",
                         json_reply(200, '{"PoolID":"p","Pool":"10.4.4.0/33"}\n')),
        "outside-pool": ("IPX206", "IpamDriver.RequestAddress",
                         json_reply(200, '{"Address":"10.9.9.9/24"}\n')),
        "html-content-type": ("IPX403", "IpamDriver.GetDefaultAddressSpaces", json_reply(
            200, '{"LocalDefaultAddressSpace":"l","GlobalDefaultAddressSpace":"g"}\n',
            "text/html")),
    }
    for name, (codes, endpoint, reply) in fault.items():
        expected = codes if isinstance(codes, list) else [codes]
        play(HERE / f"{name}.jsonl", expected, TALK, ProbePlugin(faults={endpoint: [reply]}))
    play(HERE / "netdriver-error-field.jsonl", ["IPX103"], DRIVER, ProbePlugin(faults={
        "NetworkDriver.CreateNetwork": [json_reply(200, '{"Error":"no VLAN left"}\n')]}))
    play(HERE / "unknown-scope.jsonl", ["IPX205"], DRIVER, ProbePlugin(faults={
        "NetworkDriver.GetCapabilities": [json_reply(200, '{"Scope":"Local"}\n')]}))
    play(HERE / "driver-changes-address.jsonl", ["IPX211"], DRIVER, ProbePlugin(faults={
        "NetworkDriver.CreateEndpoint": [json_reply(
            200, '{"Interface":{"Address":"10.7.0.99/24"}}\n')]}))
    play(HERE / "double-allocation.jsonl", ["IPX301"], TALK, ProbePlugin(faults={
        "IpamDriver.RequestAddress": [json_reply(200, '{"Address":"10.4.4.1/24"}\n'),
                                      json_reply(200, '{"Address":"10.4.4.1/24"}\n'),
                                      json_reply(200, '{"Address":"10.4.4.2/24"}\n')]}))
    play(HERE / "hangup-then-empty-retry.jsonl", ["IPX402", "IPX404", "IPX405"], TALK,
         ProbePlugin(), wrap=lambda t: HangUpOnce(t, "IpamDriver.ReleaseAddress"))
    handmade(HERE / "never-issued-pool.jsonl", ["IPX304", "IPX302"], [
        exchange(1, "Plugin.Activate", *ACTIVATE),
        exchange(2, "IpamDriver.RequestAddress",
                 b'{"PoolID":"ghost","Address":"","Options":null}\n',
                 b'{"Address":"10.1.0.2/24"}\n'),
        exchange(3, "IpamDriver.RequestPool", POOL_REQUEST % b"10.2.0.0/24",
                 b'{"PoolID":"p2","Pool":"10.2.0.0/24"}\n'),
        exchange(4, "IpamDriver.ReleaseAddress", b'{"PoolID":"p2","Address":"10.2.0.7"}\n',
                 b"{}\n"),
    ])
    handmade(HERE / "after-failed-activate.jsonl", ["IPX101", "IPX305"], [
        exchange(1, "Plugin.Activate", b"", b"not ready\n", status=500),
        exchange(2, "IpamDriver.RequestPool", POOL_REQUEST % b"",
                 b'{"PoolID":"p","Pool":"10.3.0.0/24"}\n'),
    ])
    handmade(HERE / "slow-answer.jsonl", ["IPX401"], [
        exchange(1, "Plugin.Activate", *ACTIVATE),
        exchange(2, "IpamDriver.GetCapabilities", b"", b"{}\n", t=0.1, duration_ms=2500.0),
    ])
    print(f"wrote {len(list(HERE.glob('*.jsonl')))} recordings in {HERE}", file=sys.stderr)


if __name__ == "__main__":
    main()
