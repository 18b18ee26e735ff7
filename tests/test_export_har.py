"""The HAR export read back by mitmproxy's own reader (tests/har_check.py).

mitmproxy lives in a separate virtualenv (its releases pin an old h11): the ``mitm_python``
fixture of conftest.py finds it, or skips (fails under IPAMX_SPY_REQUIRE_TOOLS=1).
"""

from __future__ import annotations

import base64
import json
import subprocess
from pathlib import Path

import pytest

from ipamx_spy import recording as rec
from ipamx_spy.export import FORMATS, build_trace
from ipamx_spy.recording import Exchange, Fault, Message, encode_body
from ipamx_spy.records import AnsweredBy

HERE = Path(__file__).parent
SOURCES = [HERE / "golden" / "synthetic.jsonl",
           *sorted((HERE.parent / "recordings").glob("talk.jsonl"))]


def expected(recording: rec.Recording) -> list[dict[str, object]]:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return [{
        "method": e.request.method, "path": e.request.target,
        "url": f"http://{e.request.header('Host') or 'plugin.moby.localhost'}{e.request.target}",
        "request_body": b64(e.request.raw_body),
        "status": e.response.status if e.response else 0,
        "response_body": b64(e.response.raw_body if e.response else b""),
    } for e in recording.exchanges]


def read_back(python: Path, recording: rec.Recording, tmp_path: Path) -> dict[str, int]:
    har = tmp_path / "session.har"
    har.write_text(FORMATS["har"](build_trace(recording, validate=False)), encoding="utf-8")
    want = tmp_path / "expected.json"
    want.write_text(json.dumps(expected(recording)), encoding="utf-8")
    result = subprocess.run([str(python), str(HERE / "har_check.py"), str(har), str(want)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    summary: dict[str, int] = json.loads(result.stdout)
    return summary


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_mitmproxy_reads_every_flow(mitm_python: Path, source: Path, tmp_path: Path) -> None:
    recording = rec.load(source)
    assert read_back(mitm_python, recording, tmp_path) == {
        "flows": len(recording.exchanges), "problems": 0}


def test_mitmproxy_reads_text_bodies_spy_answers_and_tcp_hosts(
    mitm_python: Path, tmp_path: Path,
) -> None:
    def message(status: int, raw: bytes, host: str = "") -> Message:
        if status:
            return Message(status=status, reason="Not Found",
                           headers=(("Content-Type", "text/plain; charset=utf-8"),),
                           body=encode_body(raw))
        return Message(method="POST", target="/IpamDriver.Leases",
                       headers=(("Host", host), ("Content-Length", str(len(raw)))),
                       body=encode_body(raw))

    exchanges = [
        Exchange(seq=1, conn=1, t=0.1, endpoint="IpamDriver.Leases",
                 request=message(0, b"", "127.0.0.1:8080"),
                 response=message(404, b"404 page not found\n")),
        Exchange(seq=2, conn=2, t=0.2, endpoint="IpamDriver.Leases",
                 # non-ASCII only in the answer: mitmproxy reads a request body that has no
                 # charset (dockerd sends no Content-Type) as latin-1 (docs/exports.md)
                 request=message(0, b'{"PoolID":"p"}'),
                 response=message(500, '{"Err":"ipamx-spy: upstream unreachable – é"}'.encode()),
                 answered_by=AnsweredBy.SPY,
                 fault=Fault(side="plugin", kind="unreachable", message="connect: refused")),
    ]
    lines = [rec.make_header(name="ipamx"), *(e.to_json() for e in exchanges)]
    recording = rec.parse("".join(json.dumps(r) + "\n" for r in lines).encode())
    assert read_back(mitm_python, recording, tmp_path) == {"flows": 2, "problems": 0}
