"""Redaction covers every record type: faults, fault messages, answers ipamx-spy wrote itself."""

from __future__ import annotations

import json

from ipamx_spy import proxy, recording, tap
from ipamx_spy.recording import Fault
from ipamx_spy.records import AnsweredBy
from ipamx_spy.redact import REDACTED, parse_rules, redact_exchange_record

SECRET = "10.9.9.9"
TOKEN = "s3cr3t-token"


def fault_record(data: bytes, message: str) -> dict[str, object]:
    return {"type": "fault", "conn": 1, "t": 0.1, "side": "docker", "kind": "malformed",
            "message": message, "data": recording.encode_body(data)}


def test_a_malformed_request_is_redacted_by_header_and_body_rules() -> None:
    raw = (b"POST /IpamDriver.RequestAddress HTTP/1.1\r\nX-Token: " + TOKEN.encode()
           + b"\r\nContent-Length: 99\r\n\r\n" + json.dumps({"Address": SECRET}).encode())
    out = redact_exchange_record(
        fault_record(raw, f"bad header X-Token: {TOKEN}"),
        parse_rules(["header:X-Token", "Address"]))
    text = json.dumps(out, ensure_ascii=False)
    assert TOKEN not in text and SECRET not in text and REDACTED in text
    assert recording.decode_body(out["data"]).startswith(b"POST /IpamDriver")  # type: ignore[arg-type]
    assert out["redacted"] == ["Address", "header:X-Token"]


def test_raw_bytes_that_are_not_json_are_left_out_under_body_rules() -> None:
    raw = b'POST /IpamDriver.RequestAddress HTTP/1.1\r\n\r\n{"Address":"' + SECRET.encode()
    out = redact_exchange_record(fault_record(raw, "truncated"), parse_rules(["Address"]))
    assert SECRET not in json.dumps(out)
    assert out["data"] == {"encoding": "omitted", "length": len(raw),
                           "reason": out["data"]["reason"]}  # type: ignore[index]
    assert recording.body_value(out["data"]).startswith("«the malformed")  # type: ignore[arg-type]


def test_the_fault_message_and_the_spy_answer_are_scrubbed() -> None:
    answer = proxy.spy_answer(500, f"the plugin sent a malformed header: b'X-Token: {TOKEN}'")
    request = tap.WireMessage(raw=b"", headers=(), body=b'{"PoolID":"p"}', http_version="1.1",
                              method="POST", target="/IpamDriver.RequestAddress")
    session = proxy.ProxySession(writer=None)
    seen: list[dict[str, object]] = []
    rules = parse_rules(["header:X-Token"])
    session.redact = lambda r: redact_exchange_record(r, rules)

    class Keep:
        def on_record(self, record: dict[str, object], _exchange: object) -> None:
            seen.append(record)

        def on_waiting(self, *_args: object) -> None: ...

        def on_sink_error(self, _message: str) -> None: ...

    session.sinks = [Keep()]
    pending = session.begin(1, request.target)
    exchange = session.complete(
        pending, request, answer, upstream_ms=None, answered_by=AnsweredBy.SPY,
        fault=Fault(side="plugin", kind="malformed",
                    message=f"malformed header X-Token: {TOKEN}"))
    session.publish(exchange)
    (stored,) = seen
    assert TOKEN not in json.dumps(stored)
    loaded = recording.Exchange.from_json(stored)  # type: ignore[arg-type]
    assert loaded.response is not None
    assert loaded.response.header("Content-Length") == str(len(loaded.response.raw_body))
