"""The one ledger of pools and addresses (``ipamx_spy.dockerd.ledger``) and its users."""

from __future__ import annotations

import ipaddress

from ipamx_spy.dockerd.ledger import Ledger, pool_daemon, shared_pool_id

NET = ipaddress.ip_network("10.0.0.0/16")
IP = ipaddress.ip_address("10.0.1.5")


def test_sub_pools_share_their_network_addresses() -> None:
    ledger = Ledger()
    whole = ledger.issue("whole", NET, "local")
    part = ledger.issue("part", NET, "local")  # the same subnet asked with a SubPool
    other_space = ledger.issue("global", NET, "global")
    assert ledger.hand_out(whole, IP) == 1
    assert ledger.in_use(part, IP)
    assert ledger.hand_out(part, IP) == 2  # a double allocation across the two PoolIDs
    assert not ledger.in_use(other_space, IP)


def test_addresses_go_with_the_last_pool_of_their_network() -> None:
    ledger = Ledger()
    whole, part = ledger.issue("whole", NET, "l"), ledger.issue("part", NET, "l")
    ledger.hand_out(part, IP)
    ledger.release_pool("whole")
    assert ledger.in_use(part, IP)
    assert ledger.held("whole") is None and ledger.held("part") is part
    was = ledger.release_pool("part")
    assert was is not None and was.held
    assert not ledger.in_use(part, IP)
    again = ledger.release_pool("part")
    assert again is not None and not again.held
    assert ledger.release_pool("never") is None
    assert whole.network == NET


def test_a_shared_ledger_says_who_got_each_address_until_it_is_back() -> None:
    """One space for several daemons (a swarm's global space): each daemon's PoolID of one
    network shares its addresses, and the ledger says who was handed each."""
    ledger = Ledger()
    on_a = ledger.issue(shared_pool_id("a", "G/10.0.0.0/16"), NET, "global")
    on_b = ledger.issue(shared_pool_id("b", "G/10.0.0.0/16"), NET, "global")
    assert (pool_daemon(on_a), pool_daemon(on_b)) == ("a", "b")
    assert list(ledger.held_pools(on_a.key)) == [on_a, on_b]
    assert ledger.held_network(NET, "global") is on_a
    assert ledger.holder(on_b, IP) is None
    ledger.hand_out(on_a, IP, by=("a", 7))
    assert ledger.holder(on_b, IP) == ("a", 7) and ledger.in_use(on_b, IP)
    ledger.hand_out(on_b, IP, by=("b", 9))
    assert ledger.holder(on_a, IP) == ("b", 9)
    assert ledger.release(on_a, IP) and ledger.holder(on_b, IP) is None
    ledger.hand_out(on_b, IP, by=("b", 11))
    ledger.release_pool(on_a.pool_id)
    assert ledger.holder(on_b, IP) == ("b", 11)  # b still holds the network
    ledger.release_pool(on_b.pool_id)
    assert ledger.holder(on_b, IP) is None and ledger.held_network(NET, "global") is None


def test_counted_addresses_need_as_many_releases() -> None:
    ledger = Ledger()
    pool = ledger.issue("p", NET)
    ledger.hand_out(pool, IP)
    ledger.hand_out(pool, IP)
    assert ledger.release(pool, IP) and ledger.release(pool, IP)
    assert not ledger.release(pool, IP)


def test_a_restart_moves_addresses_aside_for_the_replay() -> None:
    ledger = Ledger()
    pool = ledger.issue("p", NET)
    released = ipaddress.ip_address("10.0.1.6")
    ledger.hand_out(pool, IP)
    ledger.hand_out(pool, released)
    ledger.release(pool, released)
    ledger.restart()
    assert ledger.in_use(pool, IP)  # dockerd will replay it
    assert ledger.hand_out(pool, IP) == 1  # the replay is not a double allocation
    assert not ledger.in_use(pool, released)  # released before the restart: not replayed
    assert not ledger.release(pool, released)


def test_adopted_pools_keep_addresses_under_their_pool_id() -> None:
    ledger = Ledger()
    first, second = ledger.adopt("a"), ledger.adopt("b")
    ledger.hand_out(first, IP)
    assert ledger.in_use(first, IP) and not ledger.in_use(second, IP)
    assert first.network is None and ledger.held("a") is first


def test_overlapping_pools_in_one_space() -> None:
    ledger = Ledger()
    ledger.issue("p", NET, "l")
    inside = ipaddress.ip_network("10.0.3.0/24")
    found = ledger.overlapping(inside, "l")
    assert found is not None and found.pool_id == "p"
    assert ledger.overlapping(inside, "g") is None
    assert ledger.overlapping(ipaddress.ip_network("fd00::/64"), "l") is None
    ledger.release_pool("p")
    assert ledger.overlapping(inside, "l") is None


def _follow(roles: object, endpoint: str, request: dict[str, object], status: int | None = 200,
            answer: object = None) -> object:
    from ipamx_spy.dockerd.ledger import AddressRoles

    assert isinstance(roles, AddressRoles)
    return roles.follow(endpoint, request, status, {} if answer is None else answer)


GW_OPTIONS = {"RequestAddressType": "com.docker.network.gateway"}
POOL, ADDR, REL, RELPOOL = ("IpamDriver.RequestPool", "IpamDriver.RequestAddress",
                            "IpamDriver.ReleaseAddress", "IpamDriver.ReleasePool")


def test_address_roles_follow_network_create_run_rm_and_network_rm() -> None:
    """dockerd's order (libnetwork network.go): RequestPool, the gateway, each --aux-address;
    docker run's address (here by value, ``--ip``), released by docker rm while the gateway is
    held; at network rm the gateway, then the aux addresses, then ReleasePool."""
    from ipamx_spy.dockerd import AddressRole
    from ipamx_spy.dockerd.ledger import AddressRoles

    roles = AddressRoles()
    assert _follow(roles, POOL, {"Pool": "10.9.0.0/24"}, answer={
        "PoolID": "p1", "Pool": "10.9.0.0/24", "Data": {}}) is None
    _follow(roles, ADDR, {"PoolID": "p1", "Address": "", "Options": GW_OPTIONS},
            answer={"Address": "10.9.0.1/24"})
    _follow(roles, ADDR, {"PoolID": "p1", "Address": "10.9.0.5", "Options": None},
            answer={"Address": "10.9.0.5/24"})
    _follow(roles, ADDR, {"PoolID": "p1", "Address": "10.9.0.7", "Options": None},
            answer={"address": "10.9.0.7/24"})  # Go folds the key's case
    _follow(roles, ADDR, {"PoolID": "p1", "Address": "", "Options": {}},
            answer={"Address": "10.9.0.2/24"})
    assert _follow(roles, REL, {"PoolID": "p1", "Address": "10.9.0.7"}) is AddressRole.ENDPOINT
    assert _follow(roles, REL, {"PoolID": "p1", "Address": "10.9.0.2"},
                   answer={"Error": "no"}) is AddressRole.ENDPOINT
    assert _follow(roles, REL, {"PoolID": "p1", "Address": "10.9.0.1"}, 500,
                   {"Err": "held"}) is AddressRole.GATEWAY  # refused: dockerd forgets it
    assert _follow(roles, REL, {"PoolID": "p1", "Address": "10.9.0.5"}) is AddressRole.AUX
    assert _follow(roles, REL, {"PoolID": "p1", "Address": "10.9.0.9"}) is AddressRole.ENDPOINT
    assert _follow(roles, RELPOOL, {"PoolID": "p1"}) is None
    assert roles.gateways == {} and roles.by_value == {} and roles.closing == set()


def test_address_roles_take_a_gateway_named_by_request_pool_and_skip_refused_answers() -> None:
    from ipamx_spy.dockerd import AddressRole
    from ipamx_spy.dockerd.ledger import AddressRoles

    roles = AddressRoles()
    _follow(roles, POOL, {}, answer={"PoolID": "p2", "Pool": "10.8.0.0/24",
                                     "Data": {"com.docker.network.gateway": "10.8.0.254/24"}})
    _follow(roles, ADDR, {"PoolID": "p2", "Address": "", "Options": GW_OPTIONS}, 200,
            {"Address": "10.8.0.1/24", "Error": "refused"})  # dockerd fails the create
    _follow(roles, ADDR, {"PoolID": "p2", "Address": "10.8.0.9", "Options": None}, None, None)
    assert _follow(roles, REL, {"PoolID": "p2", "Address": "10.8.0.1"}) is AddressRole.ENDPOINT
    assert _follow(roles, REL, {"PoolID": "p2", "Address": "10.8.0.254"}) is AddressRole.GATEWAY
    assert _follow(roles, REL, {"PoolID": "p2", "Address": "10.8.0.9"}) is AddressRole.ENDPOINT
    assert _follow(roles, REL, {"PoolID": 7, "Address": None}) is AddressRole.ENDPOINT
    assert _follow(roles, "NetworkDriver.Join", {"PoolID": "p2"}) is None
