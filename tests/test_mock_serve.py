"""Mock mode on a socket: the lead's server runs the mock app, records and answers."""

from __future__ import annotations

from pathlib import Path

from spyharness import SpyThread

from ipamx_spy import recording
from ipamx_spy.address import Address
from ipamx_spy.aio.relay import RelayOptions
from ipamx_spy.client import PluginConnection, docker_request
from ipamx_spy.mock import MockPlugin

GOLDEN = Path(__file__).parent / "golden" / "synthetic.jsonl"


def test_mock_serves_a_recording_over_a_socket_and_records_the_session(sockdir: Path) -> None:
    exchanges = recording.load(GOLDEN).exchanges
    mock = MockPlugin(exchanges=exchanges)
    listen = sockdir / "mock.sock"
    with SpyThread(listen, RelayOptions(upstream=None, app=mock), record=sockdir / "s.jsonl"), \
            PluginConnection(Address(kind="unix", path=str(listen)), timeout=5) as conn:
        answers = [conn.call(exchange.request.raw())[0] for exchange in exchanges[:8]]
        miss, _ = conn.call(docker_request("IpamDriver.RequestPool", b'{"Pool":"1.2.3.0/24"}'))
    for exchange, answer in zip(exchanges, answers, strict=False):
        assert exchange.response is not None
        assert answer.status == exchange.response.status
        assert answer.body == exchange.response.raw_body
        assert answer.header("Content-Type") == exchange.response.header("Content-Type")
    assert miss.status == 500 and b"ipamx-spy mock: no recorded" in miss.body
    session = recording.load(sockdir / "s.jsonl").exchanges
    assert [e.endpoint for e in session] == [e.endpoint for e in exchanges[:8]] + [
        "IpamDriver.RequestPool"]
    assert len(mock.misses) == 1
