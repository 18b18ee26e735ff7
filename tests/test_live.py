"""The detached live view: a non-blocking pipe that drops and counts, never waits."""

from __future__ import annotations

import io
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from ipamx_spy import session_setup as ss
from ipamx_spy.findings import Finding
from ipamx_spy.live import (
    LINES_PER_S,
    PANELS_PER_S,
    DetachedChecker,
    DetachedView,
    LiveView,
    _Drawer,
    record_type_of,
)
from ipamx_spy.recording import Exchange, Message, encode_body, make_header
from ipamx_spy.recording_writer import encode_line
from ipamx_spy.records import RecordType
from ipamx_spy.validate import check_file


def record(seq: int) -> dict[str, Any]:
    return {"type": "marker", "t": 0.0, "text": f"m{seq} " + "x" * 400, "after_seq": seq}


class DrainedJsonView:
    """A ``--json`` view whose child writes into a pipe that a thread drains into ``got``."""

    def __init__(self) -> None:
        read_end, write_end = os.pipe()
        self.got = bytearray()

        def drain() -> None:
            while chunk := os.read(read_end, 65536):
                self.got.extend(chunk)

        self.reader = threading.Thread(target=drain)
        self.reader.start()
        out = Console(file=os.fdopen(write_end, "w"))
        self.view = DetachedView(LiveView(console=out, diagnostics=Console(file=io.StringIO()),
                                          mode="json"))
        out.file.close()  # the child holds its own copy

    def close(self) -> bytes:
        """Stop the view, wait for the drain, and return every byte the child wrote."""
        self.view.close()
        self.reader.join(10)
        return bytes(self.got)


def test_a_view_nobody_reads_drops_and_counts_instead_of_blocking() -> None:
    read_end, write_end = os.pipe()  # --json into a pipe nobody reads
    try:
        out = Console(file=os.fdopen(write_end, "w", closefd=False))
        diagnostics = io.StringIO()
        view = DetachedView(LiveView(console=out, diagnostics=Console(file=diagnostics),
                                     mode="json"))
        for seq in range(20_000):  # 8 MB: far more than the pipes hold
            view.on_record(record(seq), None)
        assert view.dropped > 0
        assert view.close(timeout=1.0) == []
        assert f"skipped {view.dropped} record(s)" in diagnostics.getvalue()
    finally:
        os.close(read_end)
        os.close(write_end)


def test_a_view_that_keeps_up_gets_every_line_in_order() -> None:
    drained = DrainedJsonView()
    for seq in range(200):
        drained.view.on_record(record(seq), None)
    lines = [json.loads(line) for line in drained.close().decode().splitlines()]
    assert drained.view.dropped == 0
    assert [line["after_seq"] for line in lines] == list(range(200))


def test_drawing_is_rate_limited_but_every_exchange_is_validated() -> None:
    checked: list[int] = []

    class Checker:
        def check(self, exchange: Any) -> list[Any]:
            checked.append(exchange.seq)
            return []

        def on_close(self, conn: int, t: float, unanswered: Any = (),
                     endpoint: str = "") -> list[Any]:
            return []

    screen = io.StringIO()
    view = LiveView(console=Console(file=screen, width=100), diagnostics=Console(file=screen),
                    mode="full", checker=Checker())
    drawer = _Drawer(view, clock=lambda: 0.0)
    exchange = {"type": "exchange", "seq": 1, "conn": 1, "t": 0.0,
                "endpoint": "Plugin.Activate", "duration_ms": 0.1, "upstream_ms": 0.1,
                "answered_by": "plugin",
                "request": {"method": "POST", "target": "/Plugin.Activate", "headers": [],
                            "body": {"encoding": "empty"}},
                "response": {"status": 200, "reason": "OK", "headers": [],
                             "body": {"encoding": "json", "json": {"Implements": []},
                                      "layout": "go"}},
                "fault": None}
    lines = [b"R" + json.dumps({**exchange, "seq": n}).encode() for n in range(1, 1001)]
    for line in lines:
        drawer.batch([line])
    drawer.flush()
    assert checked == list(range(1, 1001))
    assert "not drawn (drawing rate limit)" in screen.getvalue()


def exchange_record(seq: int, endpoint: str = "Plugin.Activate") -> dict[str, Any]:
    return {"type": "exchange", "seq": seq, "conn": 1, "t": 0.0, "endpoint": endpoint,
            "duration_ms": 0.1, "upstream_ms": 0.1, "answered_by": "plugin",
            "request": {"method": "POST", "target": f"/{endpoint}", "http_version": "1.1",
                        "headers": [], "body": {"encoding": "empty"}},
            "response": {"status": 200, "reason": "OK", "http_version": "1.1", "headers": [],
                         "body": {"encoding": "json", "json": {"Err": "no"}, "layout": "go"}},
            "fault": None}


class OddSeqs:
    """A validator that finds something on every odd exchange and on every close."""

    def check(self, exchange: Any) -> list[Finding]:
        if exchange.seq % 2 == 0:
            return []
        return [Finding(code="IPX900", severity="warning", seq=exchange.seq, message="odd")]

    def on_close(self, conn: int, t: float, unanswered: Any = (),
                 endpoint: str = "") -> list[Finding]:
        return [Finding(code="IPX901", severity="error", seq=0, message=f"c{conn} closed")]


def test_the_checking_sink_reports_findings_and_verdicts_and_feeds_the_view() -> None:
    drained = DrainedJsonView()
    view = drained.view
    found: list[Finding] = []
    failed: list[str] = []
    checking = DetachedChecker(OddSeqs(), on_finding=found.append, on_failed=failed.append,
                               view=view, verdict=lambda e: e.seq % 3 == 0)
    lines = [encode_line(exchange_record(seq, f"IpamDriver.E{seq}")) for seq in range(1, 7)]
    lines.append(encode_line({"type": "close", "conn": 1, "t": 1.0, "reason": "bye"}))
    for line in lines:
        checking.on_line(line)
    checking.close()
    got = drained.close()
    assert [(f.code, f.seq) for f in found] == [("IPX900", 1), ("IPX900", 3), ("IPX900", 5),
                                                ("IPX901", 0)]
    assert failed == ["IpamDriver.E3", "IpamDriver.E6"]
    # --json is the recording's lines as they were written, byte for byte, in order
    assert got.splitlines(keepends=True) == lines
    assert checking.dropped == 0 and view.dropped == 0


def test_the_view_is_fed_directly_once_the_checking_sink_is_gone() -> None:
    read_end, write_end = os.pipe()
    out = Console(file=os.fdopen(write_end, "w"))
    view = DetachedView(LiveView(console=out, diagnostics=Console(file=io.StringIO()),
                                 mode="json"))
    out.file.close()
    diagnostics = io.StringIO()
    checking = DetachedChecker(None, on_finding=lambda f: None, on_failed=lambda e: None,
                               view=view, diagnostics=Console(file=diagnostics))
    os.kill(checking.pid, signal.SIGKILL)
    line = encode_line(exchange_record(1))
    deadline = time.monotonic() + 10
    while not checking.feed.closed and time.monotonic() < deadline:
        checking.on_line(line)  # EPIPE once the child is gone
        time.sleep(0.01)
    assert "the validator process is gone" in diagnostics.getvalue()
    checking.on_line(encode_line(exchange_record(2)))
    checking.close()
    view.close()
    with os.fdopen(read_end, "rb") as file:
        seqs = [json.loads(x)["seq"] for x in file.read().splitlines()]
    assert seqs[-1] == 2  # the record after the validator died still reached the view


def test_the_view_decodes_only_what_it_draws() -> None:
    """Without a checker of its own (the checking sink validates), the view reads a record's
    type from the line's start: records it draws nothing for, and exchanges over the drawing
    rate, are never decoded (here they are not even JSON past their type, and no error is
    drawn), and the rate limit still counts every exchange it skips."""
    screen = io.StringIO()
    view = LiveView(console=Console(file=screen, width=100), diagnostics=Console(file=screen),
                    mode="full")
    drawer = _Drawer(view, clock=lambda: 0.0)
    drawn = PANELS_PER_S + LINES_PER_S
    lines = [b"R" + json.dumps(exchange_record(n)).encode() for n in range(1, drawn + 1)]
    lines += [b'R{"type":"exchange","seq":' + str(n).encode() + b",not json"
              for n in range(drawn + 1, drawn + 51)]
    lines += [b'R{"type":"open","conn":1,not json', b'R{"type":"finding",not json',
              b'R{"type":"note",not json']
    for line in lines:
        drawer.batch([line])
    drawer.flush()
    assert "cannot draw" not in screen.getvalue()
    assert "50 exchange(s) not drawn (drawing rate limit)" in screen.getvalue()
    assert screen.getvalue().count("Plugin.Activate") >= drawn
    drawer.batch([b'R{"type":"marker",not json'])  # drawn records are decoded: said, skipped
    assert "cannot draw a record" in screen.getvalue()


def test_record_type_of_reads_the_session_s_lines_only() -> None:
    assert record_type_of(b'{"type":"exchange","seq":1}') is RecordType.EXCHANGE
    assert record_type_of(b'{"type":"finding"}') is RecordType.FINDING
    assert record_type_of(b'{"seq":1,"type":"exchange"}') is None  # decoded by the caller
    assert record_type_of(b'{"type":"nonsense"}') is None
    assert record_type_of(b'{"type":"exch') is None
    assert record_type_of(b'{"type": "exchange"}') is None


def _verdict_cases() -> list[Any]:
    from ipamx_spy.recording import load

    exchanges = []
    for path in sorted(Path(__file__).resolve().parent.parent.glob("recordings/**/*.jsonl")):
        exchanges += load(path).exchanges
    return exchanges


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_verdict_cases()), st.sampled_from([
    None, {"Address": "10.4.0.2/16"}, {"Address": "10.4.0.2"}, {"Address": 5},
    {"Address": "10.4.0.2/16", "Err": "x"}, {"Address": "10.4.0.2/16", "Extra": 1},
    {"PoolID": "x", "Pool": "10.0.0.0/8", "Data": {}}, {"PoolID": "", "Pool": "10.0.0.0/8"},
    {"Implements": ["IpamDriver"]}, {"Implements": "IpamDriver"}, {"Err": ""}, {},
    {"RequiresMACAddress": True}, {"RequiresMACAddress": "yes"}]))
def test_the_checking_sink_s_verdict_is_dockerd_s(exchange: Any, answer: Any) -> None:
    """``dockerd_fails`` takes plain answers without decoding them again; on every recorded
    exchange, and with its answer replaced by well- and ill-typed ones, it says what
    dockerd's verdict says."""
    from dataclasses import replace

    from ipamx_spy.dockerd.verdict import read_answer
    from ipamx_spy.live import dockerd_fails

    if answer is not None and exchange.response is not None:
        exchange = replace(exchange, response=replace(exchange.response, body={
            "encoding": "json", "json": answer, "layout": "go"}))
    response = exchange.response
    expected = response is not None and read_answer(
        exchange.endpoint, response.status, None, response.raw_body).error is not None
    assert dockerd_fails(exchange) == expected


ANSWERS = [None, {"Address": "10.4.0.2/16"}, {"Address": "10.4.0.2"}, {"Address": 5},
           {"Address": "10.4.0.2/16", "Err": "x"}, {"PoolID": "", "Pool": "10.0.0.0/8"},
           {"Implements": ["IpamDriver"]}, {"Err": ""}, {}]


def test_the_checking_sink_with_the_validator_reads_dockerd_s_verdict() -> None:
    """The checking sink skips the verdict for an exchange the validator found plain (its
    fast lane is the verdict's first test); with the real validator on every recorded
    exchange, its answer replaced by well- and ill-typed ones, the sink's failures are still
    exactly the ones dockerd's verdict names, in order."""
    from dataclasses import replace

    from ipamx_spy.dockerd.verdict import read_answer
    from ipamx_spy.validate import Validator

    exchanges = []
    for n, exchange in enumerate(_verdict_cases()):
        answer = ANSWERS[n % len(ANSWERS)]
        if answer is not None and exchange.response is not None:
            exchange = replace(exchange, response=replace(exchange.response, body={
                "encoding": "json", "json": answer, "layout": "go"}))
        exchanges.append(replace(exchange, seq=n + 1, fault=None))
    failed: list[str] = []
    checking = DetachedChecker(Validator(), on_finding=lambda f: None, on_failed=failed.append)
    for exchange in exchanges:
        checking.on_line(encode_line(exchange.to_json()))
    checking.close()
    expected = [e.endpoint for e in exchanges if e.response is not None and read_answer(
        e.endpoint, e.response.status, None, e.response.raw_body).error is not None]
    assert expected and len(expected) < len(exchanges)
    assert failed == expected


TRICKY_BODIES = [None, {"a": 1, "response": {"status": 200}}, {"request": {"x": [1]}, "b": 2},
                 {"s": ',"response":{"status":1', "response": {}}, {"request": "}"},
                 {"x": {}, "fault": {"side": 1}}, {"body": {"a": ',"body":'}, "y": '},"fault":'},
                 [',"body":', {"fault": None}]]
TRICKY_HEADERS = [None, [["X-A", ',"body":{"encoding":"empty"}'], ["X-B", '},"fault":null}']],
                  [["Content-Type", "application/json"]]]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_verdict_cases()), st.sampled_from(TRICKY_BODIES),
       st.sampled_from([None, "{x", "a,\"request\":[", "Plugin.Activate"]), st.booleans(),
       st.sampled_from(TRICKY_BODIES), st.sampled_from(TRICKY_HEADERS))
def test_an_exchange_line_read_in_parts_is_the_line_decoded_whole(
        exchange: Any, body: Any, endpoint: str | None, unanswered: bool, answer: Any,
        headers: Any) -> None:
    """The checking sink reads a request once for every line that repeats it, and an
    answer's head once for every answer that repeats it (``exchange_parts``): the exchange it
    builds is the one decoding the line whole gives, with bodies, headers and endpoints that
    hold the keys it looks for, and without an answer."""
    from dataclasses import replace

    from ipamx_spy.live import LineParts, exchange_parts
    from ipamx_spy.recording import Exchange, Fault

    if body is not None:
        exchange = replace(exchange, request=replace(exchange.request, body={
            "encoding": "json", "json": body}))
    if endpoint is not None:
        exchange = replace(exchange, endpoint=endpoint)
    if exchange.response is not None and answer is not None:
        exchange = replace(exchange, response=replace(exchange.response, body={
            "encoding": "json", "json": answer}))
    if exchange.response is not None and headers is not None:
        exchange = replace(exchange, response=replace(exchange.response, headers=tuple(
            (k, v) for k, v in headers)))
    if unanswered:
        exchange = replace(exchange, response=None,
                           fault=Fault(side="plugin", kind="closed", message="x"))
    line = encode_line(exchange.to_json()).rstrip(b"\n")
    whole = Exchange.from_json(json.loads(line))
    kept = LineParts()
    for _ in range(2):  # read, then taken from what was kept
        record, request, response = exchange_parts(line, kept)
        assert Exchange.from_json(record, request=request, answer=response) == whole
    if not unanswered and endpoint is None and body is None and "{" not in json.dumps(headers):
        assert response is not None  # the session's layout: the answer was read in parts


def test_a_burst_is_announced_once_however_many_batches_it_takes() -> None:
    screen = io.StringIO()
    view = LiveView(console=Console(file=screen, width=100), diagnostics=Console(file=screen),
                    mode="full")
    drawer = _Drawer(view, clock=lambda: 0.0)
    batch = [b"R" + json.dumps(exchange_record(n)).encode() for n in range(1, 21)]
    for _ in range(3):
        drawer.batch(batch)
    assert screen.getvalue().count("arrived at once") == 1
    drawer.batch(batch[:2])  # the burst is over
    drawer.batch(batch)
    assert screen.getvalue().count("arrived at once") == 2


ADDRESS_BODY = b'{"PoolID":"LocalDefault/10.0.0.0/8","Address":"","Options":{}}\n'
ADDRESS_REQUEST = (b"POST /IpamDriver.RequestAddress HTTP/1.1\r\nHost: \r\nUser-Agent: "
                   b"Go-http-client/1.1\r\nContent-Length: " + str(len(ADDRESS_BODY)).encode()
                   + b"\r\nContent-Type: application/json\r\n\r\n" + ADDRESS_BODY)


def _answer(address: str) -> bytes:
    body = b'{"Address":"%s","Data":{}}\n' % address.encode()
    return (b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.plugins.v1.2+json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)) + body


def _framed(raw: bytes, request: bool) -> Any:
    from ipamx_spy import tap

    framer = tap.RequestTap() if request else tap.ResponseTap()
    framer.feed(raw)
    return framer.next_message()


def _json_session(session: Any) -> None:
    """Two connections: an address handed out twice (IPX301), a marker, a request left
    unanswered when its connection closes (a finding of the close)."""
    request = _framed(ADDRESS_REQUEST, True)
    first, second = session.open(), session.open()
    for conn, address in ((first, "10.0.0.2/8"), (second, "10.0.0.3/8"), (first, "10.0.0.2/8")):
        pending = session.begin(conn, request.target)
        session.prepare(pending, request)
        session.publish(session.complete(pending, request, _framed(_answer(address), False),
                                         upstream_ms=0.1))
    session.marker("docker run")
    session.begin(second, request.target)
    session.close(second, "docker side closed the connection")
    session.close(first, "docker side closed the connection")


def test_json_in_the_sessions_process_is_what_the_view_process_writes() -> None:
    """``--json`` as ``proxy --json`` runs it (validator in the checking sink's process,
    output from the view's, wired by ``session_setup``) and a ``LiveView`` with its own
    validator as a sink in the session's process give the same lines: the recording's, header
    first, and the validator's ``finding`` records among them (at their own times)."""
    import itertools

    from ipamx_spy.proxy import ProxySession
    from ipamx_spy.session_setup import LiveSetup
    from ipamx_spy.validate import Validator

    header = {"type": "header", "format": "ipamx-spy-recording", "version": 2,
              "docker_version": "20.10.24"}

    def clock() -> Any:
        ticks = itertools.count()
        return lambda: next(ticks) * 0.001

    read_end, write_end = os.pipe()
    got = bytearray()
    reader = threading.Thread(target=lambda: got.extend(b"".join(iter(
        lambda: os.read(read_end, 65536), b""))))
    reader.start()
    out = Console(file=os.fdopen(write_end, "w"))
    live = LiveView(console=out, diagnostics=Console(file=io.StringIO()), mode="json",
                    checker=Validator(), header=dict(header))
    setup = LiveSetup(session=ProxySession(writer=None, clock=clock()), live=live,
                      record_path=None, header=header)
    setup.start()
    out.file.close()  # the view's process holds its own copy
    _json_session(setup.session)
    setup.stop()
    reader.join(10)
    detached = bytes(got).decode().splitlines()

    screen = io.StringIO()
    in_process = LiveView(console=Console(file=screen), diagnostics=Console(file=io.StringIO()),
                          mode="json", checker=Validator(), header=dict(header))
    _json_session(ProxySession(writer=None, sinks=[in_process], clock=clock()))
    here = screen.getvalue().splitlines()

    def split(lines: list[str]) -> tuple[list[str], list[dict[str, Any]]]:
        records = [json.loads(line) for line in lines]
        return ([line for line, r in zip(lines, records, strict=True) if r["type"] != "finding"],
                [{k: v for k, v in r.items() if k != "t"} for r in records
                 if r["type"] == "finding"])

    lines, findings = split(detached)
    assert [json.loads(line)["type"] for line in lines] == [
        "header", "open", "open", "exchange", "exchange", "exchange", "marker", "close", "close"]
    assert sorted(f["code"] for f in findings) == ["IPX301", "IPX402"]
    assert split(here) == (lines, findings)


def test_a_validator_still_checking_when_the_session_ends_says_so() -> None:
    """The checking sink checks its backlog after the session's end for ``timeout`` at most;
    one still at it is stopped, and says that not every record was checked."""
    read_end, write_end = os.pipe()  # nothing is ever written: a check that never returns

    class Stuck:
        def check(self, exchange: Any) -> list[Any]:
            os.read(read_end, 1)
            return []

        def on_close(self, conn: int, t: float, unanswered: Any = (),
                     endpoint: str = "") -> list[Any]:
            return []

    diagnostics = io.StringIO()
    checking = DetachedChecker(Stuck(), on_finding=lambda f: None, on_failed=lambda e: None,
                               diagnostics=Console(file=diagnostics))
    checking.on_line(encode_line(exchange_record(1)))
    checking.close(timeout=0.2)
    os.close(read_end)
    os.close(write_end)
    assert "had not checked every record 0.2 s after the end" in diagnostics.getvalue()
    finished = io.StringIO()
    done = DetachedChecker(None, on_finding=lambda f: None, on_failed=lambda e: None,
                           diagnostics=Console(file=finished))
    done.on_line(encode_line(exchange_record(1)))
    done.close()
    assert "had not checked" not in finished.getvalue()


@pytest.mark.parametrize("version", [None, "20.10.24", "29.0.1"])
def test_the_live_validator_reads_answers_as_the_header_s_daemon(version: str | None,
                                                                  tmp_path: Path) -> None:
    """The session's header naming its daemon: the live validator judges each answer as that
    daemon does, so it finds what ``ipamx-spy check`` finds in the recording (a field added in
    dockerd 28 is unknown to 20.10, IPX214, and of the wrong type to 29, IPX201). A header
    naming no daemon is read as the authority's default, 20.10.24, as dockerd's verdicts
    read it."""
    header = make_header(name="x", **({} if version is None else {"docker_version": version}))
    setup = ss.live_session("x", header, ss.LiveOptions(record=tmp_path / "r.jsonl"))
    answer = b'{"Scope":"local","GwAllocChecker":"yes"}\n'
    caps = Exchange(
        seq=1, conn=1, t=0.0, endpoint="NetworkDriver.GetCapabilities", duration_ms=1.0,
        request=Message(method="POST", target="/NetworkDriver.GetCapabilities", headers=(),
                        body=encode_body(b"")),
        response=Message(status=200, reason="OK", body=encode_body(answer), headers=(
            ("Content-Type", "application/vnd.docker.plugins.v1.2+json"),)))
    assert setup.live.checker is not None
    live_codes = [f.code for f in setup.live.checker.check(caps)]
    path = tmp_path / "caps.jsonl"
    path.write_bytes(encode_line(header) + encode_line(caps.to_json()))
    assert live_codes == [f.code for f in check_file(path).findings]
    assert live_codes == (["IPX214"] if version in (None, "20.10.24") else ["IPX201"])
