"""Inferring the docker command behind groups of exchanges (PROTOCOL.md section 5)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ipamx_spy import recording as rec
from ipamx_spy.infer import INFERRED, MARKER, UNRECOGNISED, classify, infer, sections
from ipamx_spy.recording import Exchange, Fault, Message, encode_body, go_json

GOLDEN = Path(__file__).parent / "golden"
POOL = "LocalDefault/10.4.4.0/24"
POOL6 = "LocalDefault/fd00:1::/64"
NET, EP = "n" * 64, "e" * 64
GW = {"RequestAddressType": "com.docker.network.gateway"}
PORTS = {"com.docker.network.endpoint.exposedports": [], "com.docker.network.portmap": []}


def msg(body: Any) -> dict[str, Any]:
    raw = b"" if body is None else (go_json(body) + "\n").encode()
    return encode_body(raw)


class Session:
    """Builds exchanges in order; ``gap`` advances the clock before the next call."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []
        self.t = 1.0

    def call(self, endpoint: str, request: Any = None, response: Any = None, *,
             status: int = 200, fault: str = "", gap: float = 0.002) -> Session:
        self.t += gap
        answer = None if fault else Message(status=status, reason="", headers=(),
                                            body=msg({} if response is None else response))
        self.exchanges.append(Exchange(
            seq=len(self.exchanges) + 1, conn=1, t=self.t, endpoint=endpoint,
            request=Message(method="POST", target=f"/{endpoint}", headers=(),
                            body=msg(request)),
            response=answer, duration_ms=0.5,
            fault=Fault(side="plugin", kind="closed", message=fault) if fault else None))
        return self

    def activate(self, *implements: str) -> Session:
        self.call("Plugin.Activate", None, {"Implements": list(implements)})
        for interface in implements:
            answer = {"Scope": "local"} if interface == "NetworkDriver" else {}
            self.call(f"{interface}.GetCapabilities", None, answer)
        return self

    def create(self, pool: str = "10.4.4.0/24", *, gateway: str = "10.4.4.1/24",
               aux: str = "", net: bool = True) -> Session:
        self.call("IpamDriver.RequestPool", {"AddressSpace": "LocalDefault", "Pool": pool,
                                             "SubPool": "", "Options": {}, "V6": False},
                  {"PoolID": POOL, "Pool": pool or "10.9.0.0/16", "Data": {}})
        self.call("IpamDriver.RequestAddress", {"PoolID": POOL, "Address": "", "Options": GW},
                  {"Address": gateway, "Data": {}})
        if aux:
            self.call("IpamDriver.RequestAddress", {"PoolID": POOL, "Address": aux,
                                                    "Options": None},
                      {"Address": f"{aux}/24", "Data": {}})
        if net:
            self.call("NetworkDriver.CreateNetwork", {"NetworkID": NET, "Options": {},
                                                      "IPv4Data": [], "IPv6Data": []})
        return self

    def address(self, asked: str = "", got: str = "10.4.4.2/24", **kw: Any) -> Session:
        return self.call("IpamDriver.RequestAddress",
                         {"PoolID": POOL, "Address": asked, "Options": None},
                         {"Address": got, "Data": {}}, **kw)

    def release(self, address: str, pool: str = POOL, **kw: Any) -> Session:
        return self.call("IpamDriver.ReleaseAddress", {"PoolID": pool, "Address": address},
                         **kw)

    def net(self, method: str, **kw: Any) -> Session:
        body: dict[str, Any] = {"NetworkID": NET, "EndpointID": EP}
        if method in {"Join", "ProgramExternalConnectivity"}:
            body["Options"] = PORTS
        return self.call(f"NetworkDriver.{method}", body, {}, **kw)

    def titles(self) -> list[tuple[str, tuple[int, ...]]]:
        return [(s.heading, s.seqs) for s in infer(self.exchanges)]


def test_first_network_create_verified_sequence() -> None:
    # PROTOCOL.md 5.1, verified 20.10.24 (network driver and IPAM in one plugin)
    s = Session().activate("NetworkDriver", "IpamDriver")
    s.call("IpamDriver.GetDefaultAddressSpaces", None,
           {"LocalDefaultAddressSpace": "LocalDefault", "GlobalDefaultAddressSpace": "G"})
    s.create(aux="10.4.4.5")
    assert s.titles() == [("plugin activation (inferred)", (1, 2, 3, 4)),
                          ("docker network create (inferred)", (5, 6, 7, 8))]
    assert [w for w, _ in classify(s.exchanges)][4:] == ["pool", "gw", "aux", "net"]
    create = infer(s.exchanges)[1]
    assert create.detail == "pool 10.4.4.0/24, gateway 10.4.4.1/24"


def test_v24_network_create_asks_for_spaces_first() -> None:
    s = Session()
    s.call("IpamDriver.GetDefaultAddressSpaces", None, {})
    s.create(net=False)
    assert s.titles() == [("docker network create (inferred)", (1, 2, 3))]


def test_container_lifecycle_with_a_remote_network_driver() -> None:
    # 5.2 and 5.3, verified: run --ip -p ..., then stop
    s = Session().address("10.4.4.200", "10.4.4.200/24")
    s.net("CreateEndpoint").net("Join").net("ProgramExternalConnectivity")
    s.net("EndpointOperInfo").net("EndpointOperInfo")
    s.net("RevokeExternalConnectivity", gap=3).net("Leave").net("DeleteEndpoint")
    s.release("10.4.4.200")
    assert s.titles() == [("container start (inferred)", (1, 2, 3, 4, 5, 6)),
                          ("container stop (inferred)", (7, 8, 9, 10))]
    assert infer(s.exchanges)[0].detail == "address 10.4.4.200/24 (asked for 10.4.4.200 with --ip)"


def test_connect_and_disconnect() -> None:
    # 5.4 and 5.5, verified
    s = Session().net("EndpointOperInfo").address().net("CreateEndpoint").net("Join")
    s.net("EndpointOperInfo").net("EndpointOperInfo").net("EndpointOperInfo")
    s.net("Leave", gap=2).net("EndpointOperInfo").net("DeleteEndpoint").release("10.4.4.2")
    assert s.titles() == [("docker network connect (inferred)", (1, 2, 3, 4, 5, 6, 7)),
                          ("docker network disconnect (inferred)", (8, 9, 10, 11))]


def test_network_rm_releases_gateway_then_pool_then_network() -> None:
    # 5.6, verified for 20.10.23+
    s = Session().create(net=True)
    s.release("10.4.4.1", gap=5).call("IpamDriver.ReleasePool", {"PoolID": POOL})
    s.call("NetworkDriver.DeleteNetwork", {"NetworkID": NET})
    titles = s.titles()
    assert titles[-1] == ("docker network rm (inferred)", (4, 5, 6))
    assert [w for w, _ in classify(s.exchanges)][3] == "relgw"


def test_network_rm_without_having_seen_the_gateway_reserved() -> None:
    s = Session().release("10.4.4.1").call("IpamDriver.ReleasePool", {"PoolID": POOL})
    assert s.titles() == [("docker network rm (inferred)", (1, 2))]


def test_ipam_only_talk_scenario_from_the_synthetic_recording() -> None:
    recording = rec.load(GOLDEN / "synthetic.jsonl")
    got = [(s.heading, s.seqs, s.source) for s in sections(recording)]
    assert got == [
        ("plugin activation (inferred)", (1, 2, 3), INFERRED),
        ("docker network create (inferred)", (4, 5), INFERRED),
        ("container start (inferred)", (6,), INFERRED),
        ("container start — failed (inferred)", (7,), INFERRED),
        ("container start (inferred)", (8,), INFERRED),
        ("container stop (inferred)", (9, 10), INFERRED),  # 10 retries 9: one call
        ("docker stop web", (11,), MARKER),
        ("docker rm web", (), MARKER),
        ("docker network rm talk", (12, 13), MARKER),
    ]


def test_failed_run_right_after_a_good_one_stays_apart() -> None:
    s = Session().address("10.4.4.21", "10.4.4.21/24")
    s.call("IpamDriver.RequestAddress", {"PoolID": POOL, "Address": "10.4.4.21",
                                         "Options": None},
           {"Error": "Address already in use"}, gap=0.9)
    titles = s.titles()
    assert titles == [("container start (inferred)", (1,)),
                      ("container start — failed (inferred)", (2,))]
    assert infer(s.exchanges)[1].detail == "#2 failed: remote: Address already in use"


def test_create_rolled_back_after_create_network_fails() -> None:
    # 3.3: an error from CreateNetwork makes dockerd release what it had reserved
    s = Session().create(net=False)
    s.call("NetworkDriver.CreateNetwork", {"NetworkID": NET}, {"Err": "no"})
    s.release("10.4.4.1").call("IpamDriver.ReleasePool", {"PoolID": POOL})
    assert s.titles() == [("docker network create — failed (inferred)", (1, 2, 3, 4, 5))]


def test_aux_address_needs_to_follow_the_gateway_closely() -> None:
    quick = Session().create(aux="10.4.4.5", net=False)
    late = Session().create(net=False).address("10.4.4.5", "10.4.4.5/24", gap=2.0)
    assert [w for w, _ in classify(quick.exchanges)] == ["pool", "gw", "aux"]
    assert [w for w, _ in classify(late.exchanges)] == ["pool", "gw", "addr"]


def test_dual_stack_container_start_and_stop_are_one_command_each() -> None:
    s = Session().address().call("IpamDriver.RequestAddress",
                                 {"PoolID": POOL6, "Address": "", "Options": None},
                                 {"Address": "fd00:1::2/64", "Data": {}})
    s.release("10.4.4.2", gap=4).release("fd00:1::2", pool=POOL6)
    assert s.titles() == [("container start (inferred)", (1, 2)),
                          ("container stop (inferred)", (3, 4))]


def test_unknown_calls_are_grouped_and_not_labelled_as_a_command() -> None:
    s = Session().call("IpamDriver.Leases", None, {}).call("Foo.Bar", None, {})
    (section,) = infer(s.exchanges)
    assert (section.source, section.seqs) == (UNRECOGNISED, (1, 2))


def test_activation_retries_fold_into_one_call() -> None:
    s = Session()
    for gap in (0.0, 1.0, 2.0):
        s.call("Plugin.Activate", None, fault="connection refused", gap=gap)
    s.call("Plugin.Activate", None, {"Implements": ["IpamDriver"]}, gap=4.0)
    s.call("IpamDriver.GetCapabilities", None, {})
    assert s.titles() == [("plugin activation (inferred)", (1, 2, 3, 4, 5))]


def test_long_overlap_loop_is_linear() -> None:
    # 2.3: dockerd re-requests a pool as long as the IPAM returns overlapping ones
    s = Session()
    for _ in range(200):
        s.call("IpamDriver.RequestPool", {"Pool": ""}, {"PoolID": POOL, "Pool": "10.0.0.0/8"},
               gap=0.0)
    assert s.titles() == [("docker network create (inferred)", tuple(range(1, 201)))]


# -- markers --------------------------------------------------------------------------------


def load(records: list[dict[str, Any]]) -> rec.Recording:
    header = rec.make_header(name="ipamx")
    return rec.parse("".join(json.dumps(r) + "\n" for r in [header, *records]).encode())


@pytest.mark.parametrize("after", [0, 2])
def test_markers_cut_and_exchanges_before_the_first_are_inferred(after: int) -> None:
    s = Session().create(net=False).address(gap=3)
    records = [e.to_json() for e in s.exchanges]
    records.insert(after, {"type": "marker", "t": 0.5, "text": "docker run web",
                           "after_seq": after})
    result = sections(load(records))
    if after == 0:
        assert [(x.title, x.seqs, x.source) for x in result] == [
            ("docker run web", (1, 2, 3), MARKER)]
    else:
        assert [(x.title, x.seqs, x.source) for x in result] == [
            ("docker network create", (1, 2), INFERRED),
            ("docker run web", (3,), MARKER)]
        assert result[1].detail == "address 10.4.4.2/24 (chosen by the allocator)"


def test_markers_in_a_row_give_empty_sections() -> None:
    s = Session().address()
    records = [{"type": "marker", "t": 0.1, "text": "docker create", "after_seq": 0},
               {"type": "marker", "t": 0.2, "text": "docker start", "after_seq": 0},
               *[e.to_json() for e in s.exchanges]]
    result = sections(load(records))
    assert [(x.title, x.seqs) for x in result] == [("docker create", ()),
                                                   ("docker start", (1,))]
