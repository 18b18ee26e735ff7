"""Verdict cases observed on the real dockerd 20.10.24, 26.1.5 and 28.5.2, shared by the
offline test and the end-to-end test. A case states what 20.10.24 does; ``differs`` what another
daemon of the matrix does instead (``case.on("28.5")`` is the case as that daemon sees it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ipamx_spy.dockerd import Endpoint, Outcome

GW = {"RequestAddressType": "com.docker.network.gateway"}
VERSIONS = {"20.10": "20.10.24", "26.1": "26.1.5", "28.5": "28.5.2"}  # label: the daemon
SETUP = "failed to set up container networking: "  # 28.5's words around docker run's errors


@dataclass(frozen=True, kw_only=True)
class Seen:
    """What one daemon does differently from 20.10.24 (None: the same)."""

    outcome: Outcome | None = None
    error: str | None = None
    cli: str | None = None
    log: str | None = None


@dataclass(frozen=True, kw_only=True)
class Case:
    id: str
    endpoint: Endpoint
    status: int
    body: bytes
    outcome: Outcome
    error: str | None
    request: dict[str, Any] = field(default_factory=dict)
    netdriver: bool = False  # the plugin is the network driver too
    container: bool = False  # the call belongs to docker run (a container address)
    aux_address: str = ""  # network create's --aux-address (name=ip), "": none
    cli: str = ""  # what the docker command prints, when it fails
    log: str = ""  # a log line dockerd writes, when it only logs ("": nothing logged)
    differs: Mapping[str, Seen] = field(default_factory=dict)  # by daemon label
    version: str = "20.10.24"  # the daemon this case states
    # The network driver's GetCapabilities answer (None: {"Scope": "local"}); a swarm case's
    # says how the call comes about (tests/test_dockerd_swarm_verdict.py).
    capabilities: Mapping[str, Any] | None = None
    sent_from: str = "20.10"  # the oldest daemon of the matrix (a label) that makes the call

    def sent_by(self, label: str) -> bool:
        """Daemon ``label`` makes this case's call at all (GwAllocCheck: 28 and later)."""
        order = list(VERSIONS)
        return order.index(label) >= order.index(self.sent_from)

    def on(self, label: str) -> Case:
        """This case as daemon ``label`` (``20.10``, ``26.1``, ``28.5``) sees it."""
        seen = self.differs.get(label, Seen())
        changes = {k: v for k, v in vars(seen).items() if v is not None}
        return replace(self, version=VERSIONS[label], differs={}, **changes)


CASES: tuple[Case, ...] = (
    Case(id="pool-200-lowercase-error", endpoint=Endpoint.REQUEST_POOL, status=200,
         body=b'{"error":"boom"}', outcome=Outcome.FAILS_COMMAND, error="remote: boom",
         cli="Error response from daemon: remote: boom"),
    Case(id="pool-numeric-poolid", endpoint=Endpoint.REQUEST_POOL, status=200,
         body=b'{"PoolID":5,"Pool":"10.77.0.0/24"}', outcome=Outcome.FAILS_COMMAND,
         error=("json: cannot unmarshal number into Go struct field RequestPoolResponse.PoolID "
                "of type string"),
         differs={"28.5": Seen(error=("json: cannot unmarshal number into Go struct field "
                                      ".PoolID of type string"))}),
    Case(id="pool-500-lowercase-err", endpoint=Endpoint.REQUEST_POOL, status=500,
         body=b'{"err":"lower"}', outcome=Outcome.FAILS_COMMAND,
         error="IpamDriver.RequestPool: lower",
         cli="Error response from daemon: IpamDriver.RequestPool: lower"),
    Case(id="pool-json-then-junk", endpoint=Endpoint.REQUEST_POOL, status=200,
         body=b'{"PoolID":"p1","Pool":"10.77.0.0/24"} junk', outcome=Outcome.SUCCESS,
         error=None),
    Case(id="pool-not-json", endpoint=Endpoint.REQUEST_POOL, status=200, body=b"ok",
         outcome=Outcome.FAILS_COMMAND,
         error="invalid character 'o' looking for beginning of value"),
    Case(id="pool-204", endpoint=Endpoint.REQUEST_POOL, status=204, body=b"",
         outcome=Outcome.FAILS_COMMAND, error="IpamDriver.RequestPool: "),
    Case(id="gateway-address-200-Err", endpoint=Endpoint.REQUEST_ADDRESS, status=200,
         body=b'{"Err":"nope"}', request={"PoolID": "p1", "Address": "", "Options": GW},
         outcome=Outcome.FAILS_COMMAND,
         error="failed to allocate gateway (): No address returned",
         differs={v: Seen(error="failed to allocate gateway (): no address returned")
                  for v in ("26.1", "28.5")}),
    Case(id="container-address-200-Err", endpoint=Endpoint.REQUEST_ADDRESS, status=200,
         body=b'{"Err":"nope"}', request={"PoolID": "p1", "Address": "", "Options": None},
         container=True, outcome=Outcome.FAILS_COMMAND, error="No address returned",
         cli="docker: Error response from daemon: No address returned.",
         differs={"26.1": Seen(error="no address returned",
                               cli="docker: Error response from daemon: no address returned."),
                  "28.5": Seen(error="no address returned",
                               cli=("docker: Error response from daemon: "
                                    f"{SETUP}no address returned."))}),
    Case(id="release-pool-empty-200", endpoint=Endpoint.RELEASE_POOL, status=200, body=b"",
         request={"PoolID": "p1"}, outcome=Outcome.LOGGED, error="EOF",
         log="Failed to release address pool p1 on delete of network"),
    # The container's address (docker rm): the verdict's line is that one. Every release is
    # refused, so network rm's gateway and --aux-address releases fail too, each logged in
    # its own words (the end-to-end test reads each recorded release as the session's
    # AddressRoles does and compares the line of its role).
    Case(id="release-address-200-Error", endpoint=Endpoint.RELEASE_ADDRESS, status=200,
         body=b'{"Error":"no such"}', request={"PoolID": "p1", "Address": "10.77.0.2"},
         container=True, aux_address="a1=10.77.0.5", outcome=Outcome.LOGGED,
         error="remote: no such",
         log="Failed to release ip address 10.77.0.2 on delete of endpoint"),
    Case(id="release-address-empty-200", endpoint=Endpoint.RELEASE_ADDRESS, status=200,
         body=b"", request={"PoolID": "p1", "Address": "10.77.0.2"}, container=True,
         aux_address="a1=10.77.0.5", outcome=Outcome.LOGGED, error="EOF",
         log="Failed to release ip address 10.77.0.2 on delete of endpoint"),
    Case(id="delete-network-empty-200", endpoint=Endpoint.DELETE_NETWORK, status=200, body=b"",
         netdriver=True, request={"NetworkID": "n"}, outcome=Outcome.LOGGED, error="EOF",
         log="driver error deleting network"),
    Case(id="leave-empty-200", endpoint=Endpoint.LEAVE, status=200, body=b"", netdriver=True,
         container=True, request={"NetworkID": "n", "EndpointID": "e"}, outcome=Outcome.LOGGED,
         error="EOF", log="driver error disconnecting container"),
    Case(id="delete-endpoint-empty-200", endpoint=Endpoint.DELETE_ENDPOINT, status=200,
         body=b"", netdriver=True, container=True, request={"NetworkID": "n", "EndpointID": "e"},
         outcome=Outcome.LOGGED, error="EOF", log="driver error deleting endpoint"),
    Case(id="oper-info-empty-200", endpoint=Endpoint.ENDPOINT_OPER_INFO, status=200, body=b"",
         netdriver=True, container=True, request={"NetworkID": "n", "EndpointID": "e"},
         outcome=Outcome.FAILS_COMMAND, error="EOF",
         cli="docker: Error response from daemon: Updating join info failed: EOF.",
         differs={"28.5": Seen(outcome=Outcome.LOGGED, cli="",
                               log="NetworkDriver.EndpointOperInfo: error reading plugin resp: "
                                   "EOF")}),
    Case(id="oper-info-500", endpoint=Endpoint.ENDPOINT_OPER_INFO, status=500,
         body=b'{"Err":"no info"}', netdriver=True, container=True,
         request={"NetworkID": "n", "EndpointID": "e"}, outcome=Outcome.FAILS_COMMAND,
         error="NetworkDriver.EndpointOperInfo: no info",
         cli=("docker: Error response from daemon: Updating join info failed: "
              "NetworkDriver.EndpointOperInfo: no info."),
         differs={"28.5": Seen(outcome=Outcome.LOGGED, cli="", log="")}),
    Case(id="create-endpoint-500", endpoint=Endpoint.CREATE_ENDPOINT, status=500,
         body=b'{"Err":"no veth"}', netdriver=True, container=True,
         request={"NetworkID": "n", "EndpointID": "e"}, outcome=Outcome.FAILS_COMMAND,
         error="NetworkDriver.CreateEndpoint: no veth"),  # the CLI's text names the container
    Case(id="join-500", endpoint=Endpoint.JOIN, status=500,
         body=b'{"Err":"no join"}', netdriver=True, container=True,
         request={"NetworkID": "n", "EndpointID": "e"}, outcome=Outcome.FAILS_COMMAND,
         error="NetworkDriver.Join: no join",
         cli="docker: Error response from daemon: NetworkDriver.Join: no join.",
         differs={"28.5": Seen(cli=("docker: Error response from daemon: "
                                    f"{SETUP}NetworkDriver.Join: no join."))}),
    Case(id="caps-empty-200", endpoint=Endpoint.IPAM_GET_CAPABILITIES, status=200, body=b"",
         outcome=Outcome.LOGGED, error="EOF", log="does not support capabilities"),
    Case(id="caps-string-bool", endpoint=Endpoint.IPAM_GET_CAPABILITIES, status=200,
         body=b'{"RequiresMACAddress":"false"}', outcome=Outcome.LOGGED,
         error=("json: cannot unmarshal string into Go struct field "
                "GetCapabilityResponse.RequiresMACAddress of type bool"),
         log="does not support capabilities",
         differs={"28.5": Seen(error=("json: cannot unmarshal string into Go struct field "
                                      ".RequiresMACAddress of type bool"))}),
)


# The swarm-only calls (tests/test_dockerd_swarm_verdict.py drives them in a swarm of its own
# on each daemon): DiscoverNew when the driver registers on a swarm node (the node itself,
# BindAddress set) and when another node joins, DiscoverDelete when it leaves, AllocateNetwork
# and FreeNetwork from the manager's allocator after network create and rm returned (a
# global-scope driver, a managed plugin), GwAllocCheck (28+, when the capabilities ask for it).
# Identical on the three daemons (swarmkit's lines carry the network id and the wrapped error
# as fields).
NO = b'{"Err":"swarm says no"}\n'
SELF_DISCOVERY = {"DiscoveryType": 1, "DiscoveryData": {
    "Address": "198.18.1.1", "BindAddress": "198.18.1.1", "Self": True}}
MEMBER_DISCOVERY = {"DiscoveryType": 1, "DiscoveryData": {
    "Address": "198.18.1.2", "BindAddress": "", "Self": False}}
SWARM_NETWORK = {"NetworkID": "n1", "Options": {}, "IPv4Data": [
    {"AddressSpace": "", "Gateway": "10.0.1.1/24", "Pool": "10.0.1.0/24"}], "IPv6Data": None}
# Only a driver whose ConnectivityScope is global hears of other members; the others' plugins
# say local, so that, left behind by their case, they hold no member's notification up.
REGISTERED = {"Scope": "local"}
MEMBER = {"Scope": "local", "ConnectivityScope": "global"}
GLOBAL = {"Scope": "global", "ConnectivityScope": "local"}
GW_CHECKER = {"Scope": "local", "GwAllocChecker": True}


def _swarm(id: str, endpoint: Endpoint, status: int, body: bytes, error: str,
           capabilities: Mapping[str, Any], request: dict[str, Any], **kw: Any) -> Case:
    return Case(id=id, endpoint=endpoint, status=status, body=body, error=error,
                netdriver=True, capabilities=capabilities, request=request, **kw)


SWARM_CASES: tuple[Case, ...] = (
    _swarm("discover-new-empty-200", Endpoint.DISCOVER_NEW, 200, b"", "EOF", REGISTERED,
           SELF_DISCOVERY, outcome=Outcome.LOGGED,
           log="Failed the node discovery in driver: EOF"),
    _swarm("discover-new-500", Endpoint.DISCOVER_NEW, 500, NO,
           "NetworkDriver.DiscoverNew: swarm says no", REGISTERED, SELF_DISCOVERY,
           outcome=Outcome.LOGGED,
           log="Failed the node discovery in driver: NetworkDriver.DiscoverNew: swarm says no"),
    # Another node joining the gossip cluster (BindAddress "") and leaving it: logged at
    # debug level, so nothing is in dockerd's log.
    _swarm("discover-new-member-500", Endpoint.DISCOVER_NEW, 500, NO,
           "NetworkDriver.DiscoverNew: swarm says no", MEMBER, MEMBER_DISCOVERY,
           outcome=Outcome.LOGGED),
    # ... but the plugin layer logs a 200 body it cannot decode, at error level.
    _swarm("discover-delete-empty-200", Endpoint.DISCOVER_DELETE, 200, b"", "EOF", MEMBER,
           MEMBER_DISCOVERY, outcome=Outcome.LOGGED,
           log="NetworkDriver.DiscoverDelete: error reading plugin resp: EOF"),
    _swarm("discover-delete-500", Endpoint.DISCOVER_DELETE, 500, NO,
           "NetworkDriver.DiscoverDelete: swarm says no", MEMBER, MEMBER_DISCOVERY,
           outcome=Outcome.LOGGED),
    _swarm("allocate-network-empty-200", Endpoint.ALLOCATE_NETWORK, 200, b"", "EOF", GLOBAL,
           SWARM_NETWORK, outcome=Outcome.LOGGED, log="Failed allocation for network"),
    _swarm("allocate-network-500", Endpoint.ALLOCATE_NETWORK, 500, NO,
           "NetworkDriver.AllocateNetwork: swarm says no", GLOBAL, SWARM_NETWORK,
           outcome=Outcome.LOGGED, log="Failed allocation for network"),
    _swarm("free-network-empty-200", Endpoint.FREE_NETWORK, 200, b"", "EOF", GLOBAL,
           {"NetworkID": "n1"}, outcome=Outcome.LOGGED,
           log="Failed during network free for network"),
    _swarm("free-network-500", Endpoint.FREE_NETWORK, 500, NO,
           "NetworkDriver.FreeNetwork: swarm says no", GLOBAL, {"NetworkID": "n1"},
           outcome=Outcome.LOGGED, log="Failed during network free for network"),
    _swarm("gw-alloc-check-empty-200", Endpoint.GW_ALLOC_CHECK, 200, b"", "EOF", GW_CHECKER,
           {"Options": {}}, outcome=Outcome.FAILS_COMMAND, sent_from="28.5",
           cli="Error response from daemon: EOF"),
    _swarm("gw-alloc-check-500", Endpoint.GW_ALLOC_CHECK, 500, NO,
           "NetworkDriver.GwAllocCheck: swarm says no", GW_CHECKER, {"Options": {}},
           outcome=Outcome.FAILS_COMMAND, sent_from="28.5",
           cli="Error response from daemon: NetworkDriver.GwAllocCheck: swarm says no"),
)


def cases_on(label: str) -> list[Case]:
    """Every case (the swarm ones too) as daemon ``label`` sees it, of the calls it makes."""
    return [case.on(label) for case in (*CASES, *SWARM_CASES) if case.sent_by(label)]
