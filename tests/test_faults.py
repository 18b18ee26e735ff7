"""Fault injection (``ipamx_spy.faults``): parsing, the plan, and the relay doing it for real
on a socket, in front of the mock and of the built-in plugin."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from spyharness import SpyThread
from typer.testing import CliRunner

from ipamx_spy import recording
from ipamx_spy.address import Address
from ipamx_spy.aio.relay import RelayOptions
from ipamx_spy.builtin import BuiltinConfig, make_plugin
from ipamx_spy.cli import app
from ipamx_spy.client import PluginConnection, PluginNoAnswer, docker_request
from ipamx_spy.faults import FaultError, FaultPlan, Injection, parse
from ipamx_spy.mock import MockPlugin

GOLDEN = Path(__file__).parent / "golden" / "synthetic.jsonl"
HANGUP = Path(__file__).parent / "broken" / "hangup-then-empty-retry.jsonl"
POOL = (b'{"AddressSpace":"LocalDefault","Pool":"10.9.0.0/16","SubPool":"",'
        b'"Options":{},"V6":false}\n')


def test_parse_every_action() -> None:
    rule = parse("IpamDriver.RequestAddress:delay=2s")
    assert rule.injection == Injection(delay_s=2.0) and rule.matches("IpamDriver.RequestAddress")
    assert parse("RequestPool:delay=250ms").injection.delay_s == 0.25
    assert parse("requestpool:status=503,err=no pools").matches("IpamDriver.RequestPool")
    assert parse("IpamDriver.*:empty,times=2").times == 2
    assert parse("*:hang").injection.hang and parse("Join:drop").injection.drop
    for bad in ["RequestPool", "RequestPool:", ":drop", "RequestPool:delay=soon",
                "RequestPool:status=99", "RequestPool:explode", "RequestPool:times=0"]:
        with pytest.raises(FaultError, match="--fault"):
            parse(bad)


def test_rewrite_and_times() -> None:
    assert Injection(status=503, err="no pools").rewrite(200, b"{}") == (
        503, b'{"Err": "no pools"}\n')
    assert Injection(err="x").rewrite(200, b"{}")[0] == 500
    assert Injection(empty=True).rewrite(200, b"{}") == (200, b"")
    plan = FaultPlan.parse(["RequestPool:status=500,times=1"])
    assert plan is not None
    assert plan.injection("IpamDriver.RequestPool") is not None
    assert plan.injection("IpamDriver.RequestPool") is None
    assert plan.injection("IpamDriver.RequestAddress") is None
    assert FaultPlan.parse([]) is None


def spy(sockdir: Path, faults: list[str], app_: object | None = None) -> SpyThread:
    plugin = app_ or make_plugin(BuiltinConfig(state=None))
    return SpyThread(sockdir / "p.sock", RelayOptions(upstream=None, app=plugin,  # type: ignore
                                                      faults=FaultPlan.parse(faults)),
                     record=sockdir / "r.jsonl")


def connection(sockdir: Path, timeout: float = 10) -> PluginConnection:
    return PluginConnection(Address(kind="unix", path=str(sockdir / "p.sock")), timeout=timeout)


def test_status_err_empty_and_delay_on_a_socket(sockdir: Path) -> None:
    faults = ["RequestPool:status=500,err=injected: no pools,times=1",
              "GetCapabilities:empty", "Plugin.Activate:delay=10ms"]
    with spy(sockdir, faults), connection(sockdir) as conn:
        activate, _ = conn.call(docker_request("Plugin.Activate"))
        failed, _ = conn.call(docker_request("IpamDriver.RequestPool", POOL))
        # the plugin did the work of the faulted call (only the answer was replaced): ask again
        other = POOL.replace(b"10.9", b"10.8")
        good, _ = conn.call(docker_request("IpamDriver.RequestPool", other))
        empty, _ = conn.call(docker_request("IpamDriver.GetCapabilities"))
    assert activate.status == 200 and json.loads(activate.body)["Implements"]
    assert failed.status == 500 and json.loads(failed.body) == {"Err": "injected: no pools"}
    assert good.status == 200 and "PoolID" in json.loads(good.body)
    assert empty.status == 200 and empty.body == b""
    recorded = recording.load(sockdir / "r.jsonl").exchanges
    assert [e.status for e in recorded] == [200, 500, 200, 200]


def test_drop_closes_without_an_answer_and_is_recorded_unanswered(sockdir: Path) -> None:
    with spy(sockdir, ["RequestPool:drop,times=1"]), connection(sockdir) as conn:
        with pytest.raises(PluginNoAnswer):
            conn.call(docker_request("IpamDriver.RequestPool", POOL))
        again, _ = conn.call(docker_request("IpamDriver.GetCapabilities"))
    assert again.status == 200
    closes = [r for r in recording.load(sockdir / "r.jsonl").records if r["type"] == "close"]
    assert closes[0]["unanswered"] and "injected fault" in closes[0]["reason"]


def test_hang_never_answers_but_other_connections_go_on(sockdir: Path) -> None:
    with spy(sockdir, ["RequestPool:hang"]):
        with connection(sockdir, timeout=0.5) as hung, pytest.raises(PluginNoAnswer,
                                                                     match="no answer"):
            hung.call(docker_request("IpamDriver.RequestPool", POOL))
        with connection(sockdir) as other:
            answer, _ = other.call(docker_request("Plugin.Activate"))
    assert answer.status == 200


def test_mock_reproduces_a_recorded_hangup_as_a_dropped_connection(sockdir: Path) -> None:
    exchanges = recording.load(HANGUP).exchanges
    unanswered = next(e for e in exchanges if e.response is None)
    assert unanswered.fault is not None and unanswered.fault.kind != "timeout"
    mock = MockPlugin(exchanges=exchanges)
    with spy(sockdir, [], mock), connection(sockdir) as conn:
        for exchange in exchanges:
            if exchange is unanswered:
                with pytest.raises(PluginNoAnswer):
                    conn.call(exchange.request.raw())
                break
            conn.call(exchange.request.raw())


def test_bad_fault_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["mock", str(GOLDEN), "--no-record", "--fault", "x:boom"])
    assert result.exit_code == 2 and "--fault" in result.stderr
