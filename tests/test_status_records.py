"""``ipamx-spy status`` through a running proxy: its calls are recorded as ``client`` records,
never as dockerd's exchanges, so replay, check and the exports leave them alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from spyharness import SpyThread

from ipamx_spy import recording
from ipamx_spy.address import Address
from ipamx_spy.aio.relay import RelayOptions
from ipamx_spy.builtin import BuiltinConfig, make_plugin
from ipamx_spy.client import CLIENT_HEADER, PluginConnection, docker_request
from ipamx_spy.dockerd import SpyCall
from ipamx_spy.records import ClientRecord, RecordType

POOL = (b'{"AddressSpace":"LocalDefault","Pool":"10.9.0.0/16","SubPool":"",'
        b'"Options":{},"V6":false}\n')


def test_status_calls_are_client_records_not_exchanges(sockdir: Path) -> None:
    plugin = make_plugin(BuiltinConfig())
    rec = sockdir / "r.jsonl"
    spy = SpyThread(sockdir / "p.sock", RelayOptions(upstream=None, app=plugin), record=rec)
    with spy, PluginConnection(Address(kind="unix", path=str(sockdir / "p.sock"))) as conn:
        conn.call(docker_request("IpamDriver.RequestPool", POOL))
        status = subprocess.run([sys.executable, "-m", "ipamx_spy", "status", "--socket",
                                 str(sockdir / "p.sock"), "--json"],
                                capture_output=True, text=True, timeout=120)
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["Networks"]["Networks"][0]["Pool"] == "10.9.0.0/16"
    loaded = recording.load(rec)
    assert [e.endpoint for e in loaded.exchanges] == ["IpamDriver.RequestPool"]
    clients = [ClientRecord.from_json(r).exchange for r in loaded.records
               if r.get("type") == RecordType.CLIENT]
    assert {e.endpoint for e in clients} >= {"IpamDriver.Networks", "IpamDriver.Leases"}
    assert all(e.request.header(CLIENT_HEADER) == "status" for e in clients)


def test_a_spy_call_without_the_client_header_is_a_client_record(sockdir: Path) -> None:
    """A metrics scraper (curl) names a ``SpyCall`` and sends no header: still not dockerd's."""
    plugin = make_plugin(BuiltinConfig())
    rec = sockdir / "r.jsonl"
    spy = SpyThread(sockdir / "p.sock", RelayOptions(upstream=None, app=plugin), record=rec)
    with spy, PluginConnection(Address(kind="unix", path=str(sockdir / "p.sock"))) as conn:
        conn.call(docker_request("IpamDriver.RequestPool", POOL))
        message, _ = conn.call(docker_request(SpyCall.METRICS.value))
    assert message.status == 200 and b"ipamx_ipam" in message.body
    loaded = recording.load(rec)
    assert [e.endpoint for e in loaded.exchanges] == ["IpamDriver.RequestPool"]
    assert [ClientRecord.from_json(r).exchange.endpoint for r in loaded.records
            if r.get("type") == RecordType.CLIENT] == [SpyCall.METRICS.value]
