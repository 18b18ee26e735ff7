"""The relay never wedges and never answers wrong (issue 11): each test names the failure."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakeplugin import FakePlugin, ScriptedPlugin, Stall, http, ok
from spyharness import SpyThread

from ipamx_spy import recording, tap
from ipamx_spy.address import Address
from ipamx_spy.aio.relay import RelayOptions
from ipamx_spy.client import PluginConnection, docker_request

POOL_BODY = (b'{"AddressSpace":"LocalDefault","Pool":"10.4.4.0/24","SubPool":"",'
             b'"Options":{},"V6":false}\n')
POOL_ANSWER = {"PoolID": "x/10.4.4.0/24", "Pool": "10.4.4.0/24", "Data": {}}
DEEP = b"[" * 1000 + b"]" * 1000


def unix(path: Path) -> Address:
    return Address(kind="unix", path=str(path))


def call(conn: PluginConnection, endpoint: str, body: bytes = b"") -> tuple[int, Any]:
    message, _ = conn.call(docker_request(endpoint, body))
    return message.status, json.loads(message.body) if message.body else None


def exchange_raw(listen: Path, raw: bytes, *, half_close: bool = False) -> bytes:
    """Send raw bytes, return everything the spy answers until it closes."""
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(20)
    sock.connect(str(listen))
    sock.sendall(raw)
    if half_close:
        sock.shutdown(socket.SHUT_WR)
    got = b""
    while chunk := sock.recv(65536):
        got += chunk
    sock.close()
    return got


def records(path: Path) -> list[dict[str, Any]]:
    return list(recording.load(path).records)


@pytest.fixture
def plugin(sockdir: Path) -> Iterator[FakePlugin]:
    with FakePlugin(sockdir / "plugin.sock", {
        "IpamDriver.RequestPool": lambda body: ok(POOL_ANSWER),
        "IpamDriver.Deep": lambda body: http(200, DEEP),
        "IpamDriver.Surrogate": lambda body: http(200, b'{"Error":"\\ud800"}\n'),
        "IpamDriver.Twice": lambda body: ok({"first": 1}) + ok({"second": 2}),
        "IpamDriver.Longer": lambda body: http(200, b"{}\n", headers=()).replace(
            b"\r\n\r\n{}\n", b"\r\n\r\n{}\nHTTP/1.1 200 OK\r\n\r\n"),
        "IpamDriver.Stall": lambda body: Stall(10.0, ok({})),
    }) as fake:
        yield fake


def spy_for(sockdir: Path, plugin: FakePlugin, **relay: Any) -> SpyThread:
    assert plugin.path is not None
    return SpyThread(sockdir / "spy.sock",
                     RelayOptions(upstream=unix(plugin.path), app=None, **relay),
                     record=sockdir / "rec.jsonl")


# -- every request gets an answer, whatever recording or encoding does -----------------------


@pytest.mark.parametrize("body", [b'{"AddressSpace":"\\ud800"}\n', DEEP],
                         ids=["lone-surrogate", "1000-deep"])
def test_unencodable_request_is_answered_and_the_next_one_too(
        sockdir: Path, plugin: FakePlugin, body: bytes) -> None:
    with spy_for(sockdir, plugin) as spy, PluginConnection(unix(spy.server.options.listen)) as c:
        assert call(c, "IpamDriver.RequestPool", body) == (200, POOL_ANSWER)
        assert call(c, "IpamDriver.RequestPool", POOL_BODY) == (200, POOL_ANSWER)
    seqs = [r.get("seq") for r in records(sockdir / "rec.jsonl") if r.get("seq")]
    assert seqs == [1, 2]


@pytest.mark.parametrize("endpoint", ["IpamDriver.Deep", "IpamDriver.Surrogate"])
def test_unencodable_answer_is_relayed_and_recorded(sockdir: Path, plugin: FakePlugin,
                                                    endpoint: str) -> None:
    with spy_for(sockdir, plugin) as spy, PluginConnection(unix(spy.server.options.listen)) as c:
        answer, _ = c.call(docker_request(endpoint, b"{}\n"))
        assert answer.status == 200 and answer.raw.endswith(
            DEEP if endpoint == "IpamDriver.Deep" else b'"\\ud800"}\n')
        assert call(c, "IpamDriver.RequestPool", POOL_BODY) == (200, POOL_ANSWER)
    seqs = [r.get("seq") for r in records(sockdir / "rec.jsonl") if r.get("seq")]
    assert seqs == [1, 2]


def test_a_failing_sink_never_stops_the_relay(sockdir: Path, plugin: FakePlugin) -> None:
    class Broken:
        errors: list[str] = []

        def on_record(self, record: dict[str, Any], exchange: object) -> None:
            raise RecursionError("the view cannot draw this")

        def on_waiting(self, seq: int, conn: int, endpoint: str, waited_s: float) -> None:
            raise RuntimeError("nor this")

        def on_sink_error(self, message: str) -> None:
            self.errors.append(message)

    sink = Broken()
    spy = SpyThread(sockdir / "spy.sock", RelayOptions(upstream=unix(plugin.path), app=None),
                    record=sockdir / "rec.jsonl", sinks=(sink,))
    with spy, PluginConnection(unix(spy.server.options.listen)) as c:
        for _ in range(3):
            assert call(c, "IpamDriver.RequestPool", POOL_BODY) == (200, POOL_ANSWER)
    assert spy.session.sink_errors >= 3
    assert len(sink.errors) == 1 and "the view cannot draw this" in sink.errors[0]
    assert len(recording.load(sockdir / "rec.jsonl").exchanges) == 3


# -- strict framing on the docker side --------------------------------------------------------


@pytest.mark.parametrize("method", ["CONNECT", "GET", "PUT", "DELETE"])
def test_non_post_gets_405_with_err_and_is_never_forwarded(sockdir: Path, plugin: FakePlugin,
                                                           method: str) -> None:
    target = "plugin.sock:80" if method == "CONNECT" else "/IpamDriver.RequestPool"
    raw = f"{method} {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".encode()
    with spy_for(sockdir, plugin) as spy:
        got = exchange_raw(spy.server.options.listen, raw, half_close=True)
        with PluginConnection(unix(spy.server.options.listen)) as c:
            assert call(c, "IpamDriver.RequestPool", POOL_BODY) == (200, POOL_ANSWER)
    assert got.startswith(b"HTTP/1.1 405 Method Not Allowed\r\n")
    assert b'"Err":"ipamx-spy: method ' + method.encode() + b" is not allowed" in got
    assert [r.target for r in plugin.requests] == ["/IpamDriver.RequestPool"]
    (first, _second) = recording.load(sockdir / "rec.jsonl").exchanges
    assert first.fault is not None and first.fault.kind == "method"
    assert first.answered_by == "spy"


def test_partial_headers_time_out_with_408(sockdir: Path, plugin: FakePlugin) -> None:
    with spy_for(sockdir, plugin, header_timeout=0.3) as spy:
        got = exchange_raw(spy.server.options.listen, b"POST /IpamDriver.RequestPool HTTP/1.1\r\n"
                           b"Host: x\r\nContent-Le")
        with PluginConnection(unix(spy.server.options.listen)) as c:
            assert call(c, "IpamDriver.RequestPool", POOL_BODY) == (200, POOL_ANSWER)
    assert got.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"--header-timeout" in got
    faults = [r for r in records(sockdir / "rec.jsonl") if r["type"] == "fault"]
    assert [f["kind"] for f in faults] == ["timeout"] and faults[0]["side"] == "docker"
    assert plugin.requests[0].body == POOL_BODY and len(plugin.requests) == 1


def test_a_request_cut_off_by_the_docker_side_gets_400(sockdir: Path, plugin: FakePlugin) -> None:
    with spy_for(sockdir, plugin) as spy:
        got = exchange_raw(spy.server.options.listen, b"POST /IpamDriver.RequestPool HTTP/1.1"
                           b"\r\nContent-Length: 50\r\n\r\n{", half_close=True)
    assert got.startswith(b"HTTP/1.1 400 ")
    assert plugin.requests == []


# -- strict framing on the plugin side ------------------------------------------------------


@pytest.mark.parametrize("endpoint", ["IpamDriver.Twice", "IpamDriver.Longer"])
def test_bytes_beyond_one_answer_are_dropped_and_recorded(sockdir: Path, plugin: FakePlugin,
                                                          endpoint: str) -> None:
    with spy_for(sockdir, plugin) as spy, PluginConnection(unix(spy.server.options.listen)) as c:
        first, _ = c.call(docker_request(endpoint, b"{}\n"))
        assert first.status == 200
        for _ in range(3):
            assert call(c, "IpamDriver.RequestPool", POOL_BODY) == (200, POOL_ANSWER)
    if endpoint == "IpamDriver.Twice":
        assert json.loads(first.body) == {"first": 1}
    else:
        assert first.body == b"{}\n"
    recs = records(sockdir / "rec.jsonl")
    faults = [r for r in recs if r["type"] == "fault"]
    assert [(f["side"], f["kind"]) for f in faults] == [("plugin", "extra-bytes")]
    assert "dropped" in faults[0]["message"]
    stray = recording.decode_body(faults[0]["data"])
    assert stray.startswith(b"HTTP/1.1 200 OK\r\n")
    answers = [e.response.value for e in recording.load(sockdir / "rec.jsonl").exchanges[1:]
               if e.response is not None]
    assert answers == [POOL_ANSWER] * 3


def read_request(sock: socket.socket) -> tap.WireMessage | None:
    requests = tap.RequestTap()
    while (result := requests.next_message()) is tap.NEED_DATA:
        requests.feed(sock.recv(65536))
    return result if isinstance(result, tap.WireMessage) else None


def test_an_answer_nobody_asked_for_is_never_the_next_answer(sockdir: Path) -> None:
    stray_sent = threading.Event()

    def script(sock: socket.socket, n: int) -> None:
        while read_request(sock) is not None:
            sock.sendall(ok({"connection": n}))
            if n == 1:
                sock.sendall(ok({"unsolicited": True}))
                stray_sent.set()

    plugin = ScriptedPlugin(sockdir / "plugin.sock", script)
    rec = sockdir / "rec.jsonl"
    try:
        with SpyThread(sockdir / "spy.sock", RelayOptions(upstream=unix(plugin.path), app=None),
                       record=rec) as spy, PluginConnection(unix(spy.server.options.listen)) as c:
            assert call(c, "IpamDriver.RequestPool", POOL_BODY) == (200, {"connection": 1})
            assert stray_sent.wait(10)
            assert call(c, "IpamDriver.RequestPool", POOL_BODY) == (200, {"connection": 2})
    finally:
        plugin.close()
    faults = [r for r in records(rec) if r["type"] == "fault"]
    assert [f["kind"] for f in faults] == ["extra-bytes"]
    assert b'"unsolicited"' in recording.decode_body(faults[0]["data"])


def test_idle_close_by_the_plugin_is_followed_by_a_fresh_connection(sockdir: Path) -> None:
    spy_closed = threading.Event()

    def script(sock: socket.socket, n: int) -> None:
        while read_request(sock) is not None:
            sock.sendall(ok({"connection": n}))
            if n == 1:  # an idle timeout, as Node's keepAliveTimeout: FIN after the answer
                sock.shutdown(socket.SHUT_WR)
                while sock.recv(65536):
                    pass
                spy_closed.set()
                return

    plugin = ScriptedPlugin(sockdir / "plugin.sock", script)
    try:
        with SpyThread(sockdir / "spy.sock", RelayOptions(upstream=unix(plugin.path), app=None),
                       record=sockdir / "rec.jsonl") as spy, \
                PluginConnection(unix(spy.server.options.listen)) as c:
            assert call(c, "IpamDriver.RequestPool", POOL_BODY) == (200, {"connection": 1})
            assert spy_closed.wait(10), "the spy kept the plugin's closed connection"
            assert call(c, "IpamDriver.RequestPool", POOL_BODY) == (200, {"connection": 2})
    finally:
        plugin.close()
    assert plugin.connections == 2


# -- shutdown -------------------------------------------------------------------------------


def test_request_still_waiting_at_shutdown_gets_a_500(sockdir: Path, plugin: FakePlugin) -> None:
    spy = SpyThread(sockdir / "spy.sock", RelayOptions(upstream=unix(plugin.path), app=None),
                    record=sockdir / "rec.jsonl", drain_timeout=0.2).start()
    got: list[tuple[int, Any]] = []

    def stalled() -> None:
        with PluginConnection(unix(spy.server.options.listen)) as c:
            got.append(call(c, "IpamDriver.Stall", b"{}\n"))

    thread = threading.Thread(target=stalled)
    thread.start()
    deadline = threading.Event()
    for _ in range(500):
        if spy.session.pending:
            break
        deadline.wait(0.01)
    spy.stop()
    thread.join(20)
    assert len(got) == 1
    status, body = got[0]
    assert status == 500 and "ipamx-spy is stopping" in body["Err"]
    (exchange,) = recording.load(sockdir / "rec.jsonl").exchanges
    assert exchange.fault is not None and exchange.fault.kind == "stopping"


# -- bounded memory ---------------------------------------------------------------------------


def test_session_memory_does_not_grow_with_exchanges() -> None:
    import tracemalloc

    from ipamx_spy.proxy import ProxySession, answer

    session = ProxySession(writer=None)
    request = tap.WireMessage(raw=docker_request("IpamDriver.RequestPool", POOL_BODY),
                              headers=(("Content-Length", str(len(POOL_BODY))),), body=POOL_BODY,
                              http_version="1.1", method="POST", target="/IpamDriver.RequestPool")
    reply = answer(200, json.dumps(POOL_ANSWER).encode())

    def run(n: int) -> None:
        for _ in range(n):
            pending = session.begin(1, request.target)
            session.publish(session.complete(pending, request, reply, upstream_ms=0.1))

    run(2000)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    run(20000)
    grown = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert session.summary.calls == 22000
    assert grown < 256 * 1024, f"{grown} bytes for 20,000 exchanges"


def test_a_docker_side_gone_before_its_held_answer_is_closed_after_the_exchange() -> None:
    """An exchange recorded in a turn (its line and answer held to the end of the turn, as
    another exchange is still waiting) whose docker side goes away before the turn ends: the
    recording and the sinks get the exchange, then the close, never the other way round."""
    import asyncio

    from ipamx_spy import proxy
    from ipamx_spy.aio.relay import Relay
    from ipamx_spy.app import Reply

    class App:
        def handle(self, endpoint: str, body: bytes) -> Reply:
            return Reply.json(200, POOL_ANSWER)

        def blocking(self, endpoint: str) -> bool:
            return False

    class Transport:
        def __init__(self) -> None:
            self.written = b""

        def write(self, data: bytes) -> None:
            self.written += data

        def close(self) -> None: ...

        def pause_reading(self) -> None: ...

        def resume_reading(self) -> None: ...

    heard: list[str] = []

    class Types:
        def on_line(self, line: bytes) -> None:
            heard.append(json.loads(line)["type"])

        def on_record(self, record: dict[str, Any], exchange: object) -> None: ...

        def on_waiting(self, *args: object) -> None: ...

        def on_sink_error(self, message: str) -> None: ...

    async def run() -> Transport:
        session = proxy.ProxySession(writer=None, sinks=[Types()])
        relay = Relay(session, RelayOptions(upstream=None, app=App()))
        session.begin(99, "/IpamDriver.RequestPool")  # another exchange waits: answers held
        docker = relay.protocol()
        transport = Transport()
        docker.connection_made(transport)  # type: ignore[arg-type]
        docker.data_received(docker_request("IpamDriver.RequestPool", POOL_BODY))
        assert transport.written == b""  # held to the end of the turn
        docker.connection_lost(None)
        await asyncio.sleep(0)
        relay.close()
        return transport

    transport = asyncio.run(run())
    assert transport.written == b""  # gone: nothing written to it
    assert heard == ["open", "exchange", "close"]


def test_the_built_in_plugins_exchanges_are_written_from_their_parts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-process plugin's exchanges take the relayed answers' path to the recording: the
    request's part is made at once and the line from its parts (``ProxySession.prepare``),
    byte for byte what encoding the whole record gives, without building the record."""
    import asyncio

    from ipamx_spy import proxy
    from ipamx_spy.aio.relay import Relay
    from ipamx_spy.builtin import BuiltinConfig, make_plugin
    from ipamx_spy.recording_writer import encode_line

    whole: list[int] = []
    to_json = recording.Exchange.to_json

    def counted(self: recording.Exchange) -> dict[str, Any]:
        whole.append(self.seq)
        return to_json(self)

    class Transport:
        def __init__(self) -> None:
            self.written: list[bytes] = []

        def write(self, data: bytes) -> None:
            self.written.append(data)

        def close(self) -> None: ...

    path = tmp_path / "built-in.jsonl"

    async def run() -> list[bytes]:
        writer = recording.RecordingWriter(path, recording.make_header())
        session = proxy.ProxySession(writer=writer)
        relay = Relay(session, RelayOptions(upstream=None, app=make_plugin(BuiltinConfig())))
        docker = relay.protocol()
        transport = Transport()
        docker.connection_made(transport)  # type: ignore[arg-type]
        monkeypatch.setattr(recording.Exchange, "to_json", counted)
        docker.data_received(docker_request("IpamDriver.RequestPool", POOL_BODY))
        docker.data_received(docker_request(
            "IpamDriver.RequestAddress", b'{"PoolID":"LocalDefault/10.4.4.0/24","Address":"",'
            b'"Options":null}\n'))
        monkeypatch.undo()
        relay.close()
        writer.close()
        return transport.written

    written = asyncio.run(run())
    assert [answer.split(b"\r\n", 1)[0] for answer in written] == [b"HTTP/1.1 200 OK"] * 2
    assert whole == []  # no record built: the lines came from their parts
    lines = [line for line in path.read_bytes().splitlines(keepends=True)
             if json.loads(line)["type"] == "exchange"]
    assert [json.loads(line)["endpoint"] for line in lines] == [
        "IpamDriver.RequestPool", "IpamDriver.RequestAddress"]
    for line in lines:
        assert line == encode_line(recording.Exchange.from_json(json.loads(line)).to_json())
