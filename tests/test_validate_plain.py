"""The validator's fast lane finds exactly what the full path finds, and takes most exchanges.

The fast lane (``ipamx_spy.validate.plain``) skips the checks that cannot object to a plain
answer; these tests run every recording of the repository and generated variations of plain
answers through both lanes and compare the findings, and check the one-record-at-a-time API
(``Validator.feed``, and the validator as a proxy session sink).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipamx_spy.findings import Finding
from ipamx_spy.recording import Exchange, Message, Recording, encode_body, load
from ipamx_spy.validate import Validator, check_recording
from ipamx_spy.validate.plain import plain

ROOT = Path(__file__).resolve().parent.parent
RECORDINGS = sorted(p for p in ROOT.glob("recordings/**/*.jsonl")) + sorted(
    ROOT.glob("tests/**/*.jsonl"))
JSON_TYPE = "application/vnd.docker.plugins.v1.2+json"


def _key(found: list[Finding]) -> list[tuple[str, str, int, str]]:
    return [(f.code, f.severity, f.seq, f.message) for f in found]


def _both(exchanges: list[Exchange], version: Any = None) -> tuple[list[Any], list[Any], int]:
    fast = Validator(docker_version=version)
    full = Validator(docker_version=version, fast_lane=False)
    taken = 0
    for exchange in exchanges:
        taken += plain(exchange, fast.shapes, fast.slow_ms) is not None
        fast.check(exchange)
        full.check(exchange)
    return _key(fast.findings), _key(full.findings), taken


def _loadable(path: Path) -> Recording | None:
    try:
        return load(path)
    except Exception:
        return None


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_both_lanes_find_the_same_in_every_recording(path: Path) -> None:
    rec = _loadable(path)
    if rec is None or not rec.exchanges:
        pytest.skip("not a loadable recording with exchanges (a broken-file fixture)")
    fast, full, _taken = _both(list(rec.exchanges), rec.header.get("docker_version"))
    assert fast == full


def test_the_fast_lane_takes_most_exchanges_of_the_corpus() -> None:
    total = taken = 0
    for path in ROOT.glob("recordings/**/*.jsonl"):
        exchanges = list(load(path).exchanges)
        total += len(exchanges)
        taken += _both(exchanges)[2]
    assert total > 300
    assert taken / total > 0.6, f"only {taken} of {total} exchanges took the fast lane"


# -- generated variations of plain answers --------------------------------------------------


def _exchange(seq: int, endpoint: str, request: Any, body: bytes, *, status: int = 200,
              ctype: str | None = JSON_TYPE, ms: float = 1.0) -> Exchange:
    raw = b"" if request is None else (json.dumps(request, separators=(",", ":")) + "\n").encode()
    headers = () if ctype is None else (("Content-Type", ctype),)
    return Exchange(
        seq=seq, conn=1, t=seq / 10, endpoint=endpoint, duration_ms=ms,
        request=Message(method="POST", target=f"/{endpoint}", body=encode_body(raw),
                        headers=(("Content-Length", str(len(raw))),)),
        response=Message(status=status, reason="OK", body=encode_body(body),
                         headers=(*headers, ("Content-Length", str(len(body))))))


def _go(value: Any) -> bytes:
    return (json.dumps(value, separators=(",", ":")) + "\n").encode()


PRELUDE = [
    _exchange(1, "Plugin.Activate", None, _go({"Implements": ["IpamDriver"]})),
    _exchange(2, "IpamDriver.RequestPool",
              {"AddressSpace": "l", "Pool": "10.0.0.0/24", "SubPool": "", "Options": {},
               "V6": False},
              _go({"PoolID": "p", "Pool": "10.0.0.0/24", "Data": {}})),
    _exchange(3, "IpamDriver.RequestAddress", {"PoolID": "p", "Address": "", "Options": None},
              _go({"Address": "10.0.0.2/24", "Data": {}})),
]
ASKS: dict[str, Any] = {
    "IpamDriver.RequestAddress": {"PoolID": "p", "Address": "", "Options": None},
    "IpamDriver.ReleaseAddress": {"PoolID": "p", "Address": "10.0.0.2"},
    "IpamDriver.RequestPool": {"AddressSpace": "l", "Pool": "", "SubPool": "", "Options": {},
                               "V6": False},
    "IpamDriver.ReleasePool": {"PoolID": "p"},
    "IpamDriver.GetCapabilities": None,
    "IpamDriver.GetDefaultAddressSpaces": None,
    "NetworkDriver.CreateNetwork": {"NetworkID": "n", "Options": {}, "IPv4Data": [],
                                    "IPv6Data": []},
    "NetworkDriver.DeleteEndpoint": {"NetworkID": "n", "EndpointID": "e"},
    "NetworkDriver.AllocateNetwork": {"NetworkID": "n", "Options": {}, "IPv4Data": [],
                                      "IPv6Data": []},
}
KEYS = ["Address", "address", "ADDRESS", "Data", "PoolID", "Pool", "pool", "Error", "error",
        "Err", "err", "RequiresMACAddress", "RequiresRequestReplay", "Options",
        "LocalDefaultAddressSpace", "GlobalDefaultAddressSpace", "Other"]
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.sampled_from([
        "", "x", "10.0.0.3/24", "10.0.0.2/24", "10.0.1.3/24", "10.0.0.3", "10.0.0.3/16",
        "10.0.0.0/24", "fd00::1/64", "p", "q", "LocalDefault", "001.2.3.4/24"]))
VALUES = st.one_of(SCALARS, st.dictionaries(st.sampled_from(["a", "k"]), SCALARS, max_size=2),
                   st.lists(SCALARS, max_size=2))


@st.composite
def answers(draw: st.DrawFn) -> tuple[str, Any, bytes, int, str | None, float]:
    endpoint = draw(st.sampled_from(sorted(ASKS)))
    value = draw(st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=4))
    body = draw(st.sampled_from([_go(value), json.dumps(value).encode(), _go(value) + b"x",
                                 b"", b"null", b"[]"]))
    status = draw(st.sampled_from([200, 200, 200, 500, 404]))
    ctype = draw(st.sampled_from([JSON_TYPE, JSON_TYPE, "text/plain", None]))
    ms = draw(st.sampled_from([1.0, 1.0, 5000.0]))
    return endpoint, ASKS[endpoint], body, status, ctype, ms


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers(), st.sampled_from([None, "20.10", "28.5"]))
def test_both_lanes_find_the_same_on_generated_answers(
        answer: tuple[str, Any, bytes, int, str | None, float], version: str | None) -> None:
    endpoint, request, body, status, ctype, ms = answer
    last = _exchange(4, endpoint, request, body, status=status, ctype=ctype, ms=ms)
    fast, full, _taken = _both([*PRELUDE, last], version)
    assert fast == full


def test_generated_plain_answers_do_take_the_fast_lane() -> None:
    validator = Validator()
    for exchange in PRELUDE[1:]:
        assert plain(exchange, validator.shapes, validator.slow_ms) is not None


# -- one record at a time --------------------------------------------------------------------


BROKEN = sorted((ROOT / "tests" / "broken").glob("*.jsonl"))


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.name)
def test_feeding_records_one_at_a_time_finds_what_the_recording_check_finds(
        path: Path) -> None:
    rec = load(path)
    expected = _key(check_recording(rec))
    assert expected, "every broken capture has findings"
    validator = Validator(docker_version=rec.header.get("docker_version"))
    fed: list[Finding] = []
    for line in path.read_text().splitlines():
        fed += validator.feed(json.loads(line))
    assert _key(fed) == expected == _key(validator.findings)


def test_the_validator_is_a_session_sink() -> None:
    path = ROOT / "tests" / "broken" / "hangup-then-empty-retry.jsonl"
    rec = load(path)
    by_seq = {e.seq: e for e in rec.exchanges}
    sink = Validator(docker_version=rec.header.get("docker_version"))
    for record in rec.records:
        exchange = by_seq.get(int(record["seq"])) if record.get("type") == "exchange" else None
        sink.on_record(record, exchange)
    sink.on_waiting(1, 1, "IpamDriver.RequestPool", 3.0)
    sink.on_sink_error("another sink failed")
    assert {f.code for f in sink.findings} == {"IPX402", "IPX404", "IPX405"}
    assert _key(sink.findings) == _key(check_recording(rec))
