"""Socket tests of the relay: a real ipamx-spy server between a client and a fake plugin."""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakeplugin import Close, FakePlugin, Stall, chunked, http, ok
from hypothesis import example, given, settings
from hypothesis import strategies as st
from spyharness import SpyThread

from ipamx_spy import proxy, recording
from ipamx_spy.address import Address
from ipamx_spy.aio.listen import SocketInUse, bind_unix
from ipamx_spy.aio.relay import RelayOptions
from ipamx_spy.client import PluginConnection, docker_request
from ipamx_spy.dockerd import gojson

POOL_BODY = (b'{"AddressSpace":"LocalDefault","Pool":"10.4.4.0/24","SubPool":"",'
             b'"Options":{},"V6":false}\n')
POOL_ANSWER = {"PoolID": "x/10.4.4.0/24", "Pool": "10.4.4.0/24", "Data": {}}


def unix(path: Path) -> Address:
    return Address(kind="unix", path=str(path))


@pytest.fixture
def plugin(sockdir: Path) -> Iterator[FakePlugin]:
    with FakePlugin(sockdir / "plugin.sock", {
        "IpamDriver.RequestPool": lambda body: ok(POOL_ANSWER),
        "IpamDriver.Chunked": lambda body: chunked({"Address": "10.4.4.2/24"}),
        "IpamDriver.Close": lambda body: Close(),
        "IpamDriver.Garbage": lambda body: b"<html>no</html>\r\n\r\n",
        "IpamDriver.Stall": lambda body: Stall(5.0, ok({})),
        "IpamDriver.Slow": lambda body: Stall(0.3, ok({"slow": True})),
        "IpamDriver.Html": lambda body: http(500, b"<html>boom</html>", reason="Oops",
                                             headers=("Content-Type: text/html",)),
    }) as fake:
        yield fake


def spy_for(sockdir: Path, plugin: FakePlugin | None, **relay: object) -> SpyThread:
    upstream = unix(plugin.path if plugin else sockdir / "missing.sock")
    return SpyThread(sockdir / "spy.sock", RelayOptions(upstream=upstream, app=None, **relay),
                     record=sockdir / "rec.jsonl")


def call(conn: PluginConnection, endpoint: str, body: bytes = b"") -> tuple[int, object]:
    message, _ = conn.call(docker_request(endpoint, body))
    return message.status, json.loads(message.body) if message.body else None


def test_relays_bytes_verbatim_both_ways(sockdir: Path, plugin: FakePlugin) -> None:
    raw = docker_request("IpamDriver.RequestPool", POOL_BODY, host="")
    with spy_for(sockdir, plugin) as spy, PluginConnection(unix(spy.server.options.listen)) as c:
        answer, _ = c.call(raw)
    assert plugin.requests[0].raw == raw
    assert answer.raw == ok(POOL_ANSWER)
    rec = recording.load(sockdir / "rec.jsonl")
    (exchange,) = rec.exchanges
    assert exchange.request.raw() == raw
    assert exchange.request.headers[0] == ("Host", "")
    assert exchange.request.body["layout"] == "go"
    assert exchange.response is not None and exchange.response.raw() == ok(POOL_ANSWER)
    assert exchange.endpoint == "IpamDriver.RequestPool"
    assert exchange.upstream_ms is not None and exchange.fault is None


def test_keep_alive_uses_one_upstream_connection(sockdir: Path, plugin: FakePlugin) -> None:
    with spy_for(sockdir, plugin) as spy, PluginConnection(unix(spy.server.options.listen)) as c:
        for _ in range(5):
            assert call(c, "IpamDriver.RequestPool", POOL_BODY) == (200, POOL_ANSWER)
    assert plugin.connections == 1
    types = [r["type"] for r in recording.load(sockdir / "rec.jsonl").records]
    assert types == ["open"] + ["exchange"] * 5 + ["close"]


def test_concurrent_connections_each_get_their_own_upstream(sockdir: Path,
                                                            plugin: FakePlugin) -> None:
    failures: list[object] = []

    def client(listen: Path) -> None:
        with PluginConnection(unix(listen)) as c:
            for _ in range(10):
                result = call(c, "IpamDriver.RequestPool", POOL_BODY)
                if result != (200, POOL_ANSWER):
                    failures.append(result)

    with spy_for(sockdir, plugin) as spy:
        threads = [threading.Thread(target=client, args=(spy.server.options.listen,))
                   for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert failures == []
    rec = recording.load(sockdir / "rec.jsonl")
    assert len(rec.exchanges) == 80
    assert sorted(e.seq for e in rec.exchanges) == list(range(1, 81))
    assert len({e.conn for e in rec.exchanges}) == 8
    assert plugin.connections == 8


def test_every_answer_comes_after_its_line_is_in_the_recording(sockdir: Path) -> None:
    """Answers that come in one turn of the relay's loop are finished together (one write of
    their lines, then the answers): a docker side holding its answer finds its exchange in
    the file, on every connection, every time."""
    def echo(body: bytes) -> bytes:
        return ok({"Address": json.loads(body)["Address"], "Data": None})

    failures: list[object] = []

    def client(listen: Path, record: Path, n: int) -> None:
        with PluginConnection(unix(listen)) as c:
            for i in range(25):
                address = f"10.{n}.{i}.1"
                body = json.dumps({"PoolID": "p", "Address": address, "Options": None})
                status, answer = call(c, "IpamDriver.RequestAddress", body.encode() + b"\n")
                if (status, answer) != (200, {"Address": address, "Data": None}) or \
                        f'"Address":"{address}"'.encode() not in record.read_bytes():
                    failures.append((address, status, answer))

    with FakePlugin(sockdir / "plugin.sock", {"IpamDriver.RequestAddress": echo}) as plugin, \
            spy_for(sockdir, plugin) as spy:
        threads = [threading.Thread(target=client, args=(spy.server.options.listen,
                                                          sockdir / "rec.jsonl", n))
                   for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert failures == []
    assert len(recording.load(sockdir / "rec.jsonl").exchanges) == 200


def test_held_lines_go_in_one_write_before_any_other_record_and_sinks_hear_them_at_once(
        tmp_path: Path) -> None:
    """``complete(hold=True)`` keeps the line until ``flush`` (one write for all), a record of
    another kind flushes what is held first (the file keeps the order of events), and
    ``flush_sinks`` gives a sink with ``on_lines`` every published line in one call, one
    without it each line in order. The refuse policy holds nothing."""
    from ipamx_spy import tap
    from ipamx_spy.recording import make_header
    from ipamx_spy.recording_writer import RecordingWriter

    writes: list[bytes] = []

    def write(fd: int, data: memoryview) -> int:
        writes.append(bytes(data))
        return os.write(fd, data)

    def message(raw: bytes) -> tap.WireMessage:
        framer = tap.RequestTap()
        framer.feed(raw)
        result = framer.next_message()
        assert isinstance(result, tap.WireMessage)
        return result

    class Batches:
        def __init__(self, batched: bool) -> None:
            self.calls: list[list[bytes]] = []
            if batched:
                self.on_lines = lambda lines: self.calls.append(list(lines))

        def on_line(self, line: bytes) -> None:
            self.calls.append([line])

        def on_record(self, record: dict[str, object], exchange: object) -> None: ...

        def on_waiting(self, *args: object) -> None: ...

        def on_sink_error(self, message: str) -> None: ...

    request = message(docker_request("IpamDriver.RequestPool", POOL_BODY))
    response = proxy.answer(200, b'{"PoolID":"x","Pool":"10.4.4.0/24","Data":{}}\n')
    for policy in ("continue", "refuse"):
        path = tmp_path / f"{policy}.jsonl"
        writer = RecordingWriter(path, make_header(), write=write)
        batched, single = Batches(True), Batches(False)
        session = proxy.ProxySession(writer=writer, sinks=[batched, single],
                                     on_record_error=policy)
        conn = session.open()
        writes.clear()
        done = []
        for i in range(3):
            pending = session.begin(conn, request.target)
            session.prepare(pending, request)
            done.append(session.complete(pending, request, response, upstream_ms=1.0,
                                         hold=True))
            if i == 1:
                session.marker("between")
        session.flush()
        kinds = [[json.loads(line)["type"] for line in w.splitlines()] for w in writes]
        if policy == "continue":
            assert kinds == [["exchange", "exchange"], ["marker"], ["exchange"]]
        else:
            assert kinds == [["exchange"], ["exchange"], ["marker"], ["exchange"]]
        batched.calls.clear()
        single.calls.clear()
        for exchange in done:
            session.publish(exchange, hold=True)
        assert batched.calls == single.calls == []
        session.flush_sinks()
        lines = [line for line in path.read_bytes().splitlines(keepends=True)
                 if b'"type":"exchange"' in line]
        assert batched.calls == [lines]
        assert single.calls == [[line] for line in lines]
        writer.close()


def test_chunked_answer_is_relayed_and_recorded_as_json(sockdir: Path,
                                                        plugin: FakePlugin) -> None:
    with spy_for(sockdir, plugin) as spy, PluginConnection(unix(spy.server.options.listen)) as c:
        assert call(c, "IpamDriver.Chunked") == (200, {"Address": "10.4.4.2/24"})
    (exchange,) = recording.load(sockdir / "rec.jsonl").exchanges
    assert exchange.response is not None
    assert exchange.response.value == {"Address": "10.4.4.2/24"}
    assert exchange.response.header("transfer-encoding") == "chunked"


@pytest.mark.parametrize(("endpoint", "kind", "words"), [
    ("IpamDriver.Close", "closed", "closed the connection without answering"),
    ("IpamDriver.Garbage", "malformed", "malformed answer"),
])
def test_plugin_faults_get_a_500_with_err_and_the_proxy_keeps_serving(
        sockdir: Path, plugin: FakePlugin, endpoint: str, kind: str, words: str) -> None:
    with spy_for(sockdir, plugin) as spy, PluginConnection(unix(spy.server.options.listen)) as c:
        status, body = call(c, endpoint, b"{}\n")
        assert status == 500
        assert isinstance(body, dict)
        assert body["Err"].startswith(f"ipamx-spy: upstream unix://{plugin.path}: ")
        assert words in body["Err"]
        assert call(c, "IpamDriver.RequestPool", POOL_BODY) == (200, POOL_ANSWER)
    first = recording.load(sockdir / "rec.jsonl").exchanges[0]
    assert first.fault is not None and first.fault.side == "plugin" and first.fault.kind == kind
    assert first.answered_by == "spy"


def test_missing_upstream_is_reported_to_docker(sockdir: Path) -> None:
    with spy_for(sockdir, None) as spy, PluginConnection(unix(spy.server.options.listen)) as c:
        status, body = call(c, "IpamDriver.RequestPool", POOL_BODY)
        status2, _ = call(c, "IpamDriver.RequestPool", POOL_BODY)
    assert status == status2 == 500
    assert isinstance(body, dict) and "missing.sock" in body["Err"]
    assert "No such file or directory" in body["Err"]
    (first, second) = recording.load(sockdir / "rec.jsonl").exchanges
    assert first.fault is not None and first.fault.kind == "unreachable"


def test_upstream_timeout(sockdir: Path, plugin: FakePlugin) -> None:
    with spy_for(sockdir, plugin, upstream_timeout=0.2) as spy, \
            PluginConnection(unix(spy.server.options.listen)) as c:
        status, body = call(c, "IpamDriver.Stall", b"{}\n")
        assert status == 500 and isinstance(body, dict)
        assert "no answer within 0.2 s" in body["Err"]
        assert call(c, "IpamDriver.RequestPool", POOL_BODY) == (200, POOL_ANSWER)


def test_plugin_error_page_is_relayed_unchanged(sockdir: Path, plugin: FakePlugin) -> None:
    with spy_for(sockdir, plugin) as spy, PluginConnection(unix(spy.server.options.listen)) as c:
        answer, _ = c.call(docker_request("IpamDriver.Html", b"{}\n"))
    assert answer.status == 500 and answer.reason == "Oops" and answer.body == b"<html>boom</html>"
    (exchange,) = recording.load(sockdir / "rec.jsonl").exchanges
    assert exchange.fault is None and exchange.response is not None
    assert exchange.response.body == {"encoding": "text", "text": "<html>boom</html>"}


def test_malformed_request_gets_400_and_other_connections_are_unaffected(
        sockdir: Path, plugin: FakePlugin) -> None:
    with spy_for(sockdir, plugin) as spy, PluginConnection(unix(spy.server.options.listen)) as good:
        assert call(good, "IpamDriver.RequestPool", POOL_BODY)[0] == 200
        bad = socket.socket(socket.AF_UNIX)
        bad.connect(str(spy.server.options.listen))
        bad.sendall(b"POST /x HTTP/1.1\r\nNo colon here\r\n\r\n")
        reply = b""
        while chunk := bad.recv(4096):
            reply += chunk
        bad.close()
        assert call(good, "IpamDriver.RequestPool", POOL_BODY)[0] == 200
    assert reply.startswith(b"HTTP/1.1 400 ")
    assert b"Connection: close" in reply
    assert b'"Err":"ipamx-spy: malformed request from the docker side' in reply
    faults = [r for r in recording.load(sockdir / "rec.jsonl").records if r["type"] == "fault"]
    assert faults[0]["side"] == "docker"


def test_body_over_max_body_gets_413(sockdir: Path, plugin: FakePlugin) -> None:
    with spy_for(sockdir, plugin, max_body=64) as spy, \
            PluginConnection(unix(spy.server.options.listen)) as c:
        answer, _ = c.call(docker_request("IpamDriver.RequestPool", b"{" + b" " * 100 + b"}"))
    assert answer.status == 413
    assert plugin.requests == []


def test_idle_docker_connection_is_never_closed_by_the_spy(sockdir: Path,
                                                            plugin: FakePlugin) -> None:
    with spy_for(sockdir, plugin) as spy, PluginConnection(unix(spy.server.options.listen)) as c:
        assert call(c, "IpamDriver.RequestPool", POOL_BODY)[0] == 200
        threading.Event().wait(0.5)
        sock = c._sock
        assert call(c, "IpamDriver.RequestPool", POOL_BODY)[0] == 200
        assert c._sock is sock


def test_shutdown_lets_in_flight_exchange_finish(sockdir: Path, plugin: FakePlugin) -> None:
    spy = spy_for(sockdir, plugin).start()
    results: list[tuple[int, object]] = []

    def slow_call() -> None:
        with PluginConnection(unix(spy.server.options.listen)) as c:
            results.append(call(c, "IpamDriver.Slow", b"{}\n"))

    thread = threading.Thread(target=slow_call)
    thread.start()
    while not spy.session.pending:
        threading.Event().wait(0.01)
    spy.stop()
    thread.join()
    assert results == [(200, {"slow": True})]
    assert not (sockdir / "spy.sock").exists()


def test_waiting_request_is_announced(sockdir: Path, plugin: FakePlugin,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(proxy, "WAITING_AFTER_S", 0.05)
    seen: list[tuple[int, str]] = []

    class Sink:
        def on_record(self, record: dict[str, object], exchange: object) -> None:
            pass

        def on_waiting(self, seq: int, conn: int, endpoint: str, waited_s: float) -> None:
            seen.append((seq, endpoint))

        def on_sink_error(self, message: str) -> None:
            pass

    spy = SpyThread(sockdir / "spy.sock",
                    RelayOptions(upstream=unix(plugin.path), app=None), sinks=(Sink(),))
    with spy, PluginConnection(unix(spy.server.options.listen)) as c:
        call(c, "IpamDriver.Slow", b"{}\n")
    assert seen == [(1, "IpamDriver.Slow")]


def test_stale_socket_is_replaced_live_one_refused_mode_set(sockdir: Path) -> None:
    path = sockdir / "s.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()
    listener = bind_unix(path, 0o660)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o660
    with pytest.raises(SocketInUse):
        bind_unix(path)
    listener.close()
    assert not path.exists()


def test_regular_file_at_socket_path_is_never_deleted(sockdir: Path) -> None:
    path = sockdir / "precious"
    path.write_text("data")
    with pytest.raises(FileExistsError):
        bind_unix(path)
    assert path.read_text() == "data"


def test_tcp_upstream(sockdir: Path) -> None:
    with FakePlugin(None, {"IpamDriver.RequestPool": lambda body: ok(POOL_ANSWER)}) as tcp:
        upstream = Address(kind="tcp", host="127.0.0.1", port=tcp.port)
        with SpyThread(sockdir / "spy.sock", RelayOptions(upstream=upstream, app=None),
                       record=sockdir / "rec.jsonl") as spy, \
                PluginConnection(unix(spy.server.options.listen)) as c:
            assert call(c, "IpamDriver.RequestPool", POOL_BODY) == (200, POOL_ANSWER)
    assert tcp.requests[0].body == POOL_BODY


def test_pipelined_requests_are_answered_in_order(sockdir: Path, plugin: FakePlugin) -> None:
    raw = docker_request("IpamDriver.RequestPool", POOL_BODY)
    with spy_for(sockdir, plugin) as spy:
        sock = socket.socket(socket.AF_UNIX)
        sock.connect(str(spy.server.options.listen))
        sock.sendall(raw * 50)
        expected = ok(POOL_ANSWER) * 50
        got = b""
        while len(got) < len(expected):
            chunk = sock.recv(65536)
            assert chunk, "the spy closed the connection"
            got += chunk
        sock.close()
    assert got == expected
    assert len(recording.load(sockdir / "rec.jsonl").exchanges) == 50


@pytest.mark.parametrize("answer", [
    b'{"Address":"10.4.4.2/24","Data":null}\n',
    b'{"Err":"caf\\u00e9 \xe2\x80\xa8 <&>"}\n',
    b'{"Err":"\\ud800"}\n',  # a lone surrogate: stored as base64
    b"not json \xff",
    b'{"Address": "10.4.4.2/24", "Data": null}\n',  # Python's spaced layout
    b'{"Err":"a<b"}\n',  # a character Go escapes, sent unescaped: the compact layout
    b'{"Err":"x","Err":"y"}\n',  # a repeated key: json.loads keeps one, kept as text
    b'{"Err":1e5,"Data":{"a":[1.50,-0]}}\n',  # numbers Python writes otherwise
    b'[' * 70 + b']' * 70 + b'\n',  # deeper than MAX_DEPTH: text
    None,
], ids=["json", "escapes", "surrogate", "bytes", "spaced", "compact", "repeated", "numbers",
        "deep", "no-answer"])
def test_the_record_built_while_the_plugin_works_is_the_whole_record_byte_for_byte(
        answer: bytes | None) -> None:
    """``prepare`` encodes the request ahead; the line must equal encoding the record whole."""
    from ipamx_spy import tap
    from ipamx_spy.recording import Fault
    from ipamx_spy.recording_writer import encode_line

    def message(raw: bytes, request: bool) -> tap.WireMessage:
        framer = tap.RequestTap() if request else tap.ResponseTap()
        framer.feed(raw)
        result = framer.next_message()
        assert isinstance(result, tap.WireMessage)
        return result

    body = b'{"PoolID":"LocalDefault/10.4.0.0/16","Address":"\xc3\xa9","Options":null}\n'
    request = message(b"POST /IpamDriver.RequestAddress HTTP/1.1\r\nHost: \r\nContent-Length: "
                      + str(len(body)).encode() + b"\r\n\r\n" + body, True)
    response = None if answer is None else proxy.answer(200, answer)
    lines: list[bytes] = []

    class Lines:
        def on_line(self, line: bytes) -> None:
            lines.append(line)

        def on_record(self, record: dict[str, object], exchange: object) -> None:
            raise AssertionError("a sink with on_line is given the line")

        def on_waiting(self, *args: object) -> None: ...

        def on_sink_error(self, message: str) -> None: ...

    session = proxy.ProxySession(writer=None, sinks=[Lines()])
    pending = session.begin(1, request.target)
    session.prepare(pending, request)
    assert pending.request_json is not None
    fault = Fault(side="plugin", kind="closed", message="x") if answer is None else None
    exchange = session.complete(pending, request, response, upstream_ms=0.25, fault=fault)
    session.publish(exchange)
    assert lines == [encode_line(exchange.to_json())]
    # set without the generated __init__ (recording.made): every field, as __init__ sets them
    from dataclasses import fields, replace

    assert exchange is not None
    for made in (exchange, exchange.response):
        if made is not None:
            assert sorted(vars(made)) == sorted(f.name for f in fields(made))
            assert replace(made) == made


def test_an_exchange_nobody_records_or_hears_is_only_counted() -> None:
    """``serve``: no recording, no sink; no record is built, the summary still counts."""
    body = b'{"PoolID":"x"}\n'
    framer = proxy.tap.RequestTap()
    framer.feed(b"POST /IpamDriver.ReleasePool HTTP/1.1\r\nHost: \r\nContent-Length: "
                + str(len(body)).encode() + b"\r\n\r\n" + body)
    request = framer.next_message()
    assert isinstance(request, proxy.tap.WireMessage)
    session = proxy.ProxySession(writer=None)
    for _ in range(3):
        pending = session.begin(1, request.target)
        assert session.complete(pending, request, proxy.answer(200, b"{}\n"),
                                upstream_ms=0.1) is None
    assert session.summary.calls == 3 and session.last_seq == 3
    assert not session.pending


@settings(max_examples=300, deadline=None)
@given(st.one_of(
    st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
                 | st.text(),
                 lambda children: st.lists(children, max_size=3)
                 | st.dictionaries(st.text(max_size=4), children, max_size=3),
                 max_leaves=12).map(lambda v: (gojson.compact({"V": v}) + "\n").encode(
                     "utf-8", "surrogatepass")),
    st.binary(max_size=40).map(lambda b: b"{" + b)))
@example(b'{"Err":"a<b"}\n')  # unescaped where Go escapes: compact, not go
@example(b'{"Err":"\xe2\x80\xa8"}\n')  # U+2028 unescaped
@example(b'{"Err": "x"}\n')
@example(b'{"Err":"x","Err":"y"}\n')
@example(b'{"Err":"\\ud800"}\n')
@example(b'{' + b'"a":[' * 40 + b']' * 40 + b'}\n')
@example(b'{"Err":"caf\xc3\xa9"}\n')
@example(b'{"Err":"caf\xc3"}\n')
@example(b'{"Err":"x"}y\n')  # the scanner stops before the end: careful path
@example(b'{"Err":"x"} \n')
@example(b'{\n')  # the scanner refuses (StopIteration)
@example(b'{"Err":NaN}\n')
@example(b'{}\n')
def test_the_body_fast_path_stores_what_encode_body_stores(raw: bytes) -> None:
    """The body of a record made in one step (``stored_body_json``) is ``stored_body``'s,
    and its JSON is what the record's encoder writes for it, on Go-layout bodies (the fast
    case) and on anything else."""
    stored, encoded = proxy.stored_body_json(raw)
    assert stored == proxy.stored_body(raw)
    if encoded is not None:
        assert encoded == proxy._COMPACT(stored)
