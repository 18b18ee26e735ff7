"""``mock`` of a network driver creates the host interface the recorded Join names (sans-IO,
with pretend links; the real dockerd runs it in test_mock_e2e.py)."""

from __future__ import annotations

import json
from pathlib import Path

from ipamx_spy.mock import MockPlugin
from ipamx_spy.mock_links import MARKER, HostInterfaces, peer_name
from ipamx_spy.netdriver.core import ObservedLink
from ipamx_spy.netdriver.links import MemoryLinks
from ipamx_spy.recording import load

LIFECYCLE = Path(__file__).resolve().parent.parent / "recordings" / "netdriver-lifecycle.jsonl"


def lifecycle_mock(links: MemoryLinks) -> tuple[MockPlugin, list[tuple[str, bytes]]]:
    """The mock of the lifecycle capture and the recorded requests, in order."""
    exchanges = load(LIFECYCLE).exchanges
    requests = [(e.endpoint, e.request.raw_body) for e in exchanges]
    return MockPlugin(exchanges=exchanges, interfaces=HostInterfaces(links)), requests


def play_until(mock: MockPlugin, requests: list[tuple[str, bytes]], endpoint: str,
               count: int = 1) -> dict[str, object]:
    """Send the recorded requests up to the ``count``-th ``endpoint``; its answer."""
    seen = 0
    for name, body in requests:
        reply = mock.handle(name, body)
        if name == endpoint:
            seen += 1
            if seen == count:
                value: dict[str, object] = json.loads(reply.body)
                return value
    raise AssertionError(f"no {endpoint} #{count} in the recording")


def src_names() -> list[str]:
    return [e.response.value["InterfaceName"]["SrcName"] for e in load(LIFECYCLE).exchanges
            if e.endpoint == "NetworkDriver.Join" and e.response is not None]


def test_join_creates_the_recorded_interface_and_delete_endpoint_removes_it() -> None:
    links = MemoryLinks()
    mock, requests = lifecycle_mock(links)
    first = src_names()[0]
    answer = play_until(mock, requests, "NetworkDriver.Join")
    assert answer["InterfaceName"] == {"SrcName": first, "DstPrefix": "eth"}
    created = {link.name: link for link in links.observe() if link.alias == MARKER}
    assert set(created) == {first, peer_name(first, set())}
    assert links.peers[first] == peer_name(first, set())
    assert mock.blocking("NetworkDriver.Join") and not mock.blocking("IpamDriver.RequestPool")
    for name, body in requests[requests.index(next(r for r in requests if r[0] ==
                                                   "NetworkDriver.Join")) + 1:]:
        mock.handle(name, body)  # the rest of the capture: stops, DeleteEndpoints, network rm
    assert [link.name for link in links.observe()] == ["lo"]
    assert mock.interfaces is not None and mock.interfaces.pairs == {}


def test_an_interface_name_the_host_already_has_is_refused() -> None:
    links = MemoryLinks()
    first = src_names()[0]
    links.links[first] = ObservedLink(name=first, kind="veth")
    mock, requests = lifecycle_mock(links)
    answer = play_until(mock, requests, "NetworkDriver.Join")
    assert answer == {"Err": f"ipamx-spy mock: cannot create the host interface {first} that "
                             f"the recorded Join names: the host already has an interface "
                             f"named {first}; dockerd would move it into the container"}
    assert set(links.links) == {"lo", first}  # untouched


def test_exit_removes_what_is_left_and_without_interfaces_nothing_is_created() -> None:
    links = MemoryLinks()
    mock, requests = lifecycle_mock(links)
    play_until(mock, requests, "NetworkDriver.Join", count=2)
    assert len([link for link in links.observe() if link.alias == MARKER]) == 4
    assert mock.interfaces is not None
    mock.interfaces.close()
    assert [link.name for link in links.observe()] == ["lo"]
    plain = MockPlugin(exchanges=load(LIFECYCLE).exchanges)
    assert not plain.blocking("NetworkDriver.Join")
    play_until(plain, requests, "NetworkDriver.Join")


def test_peer_names_fit_the_kernels_limit_and_avoid_taken_ones() -> None:
    name = peer_name("ix7c60c719537c8", set())
    assert len(name) <= 15 and name.startswith("ipxm")
    assert peer_name("ix7c60c719537c8", {name}) != name
