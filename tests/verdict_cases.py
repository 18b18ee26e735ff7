"""Verdict cases observed on the real dockerd 20.10.24, shared by the offline test and the
end-to-end test (``command``: which docker command the call belongs to)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ipamx_spy.dockerd import Endpoint, Outcome

GW = {"RequestAddressType": "com.docker.network.gateway"}


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
    cli: str = ""  # what the docker command prints, when it fails
    log: str = ""  # a log line dockerd writes, when it only logs


CASES: tuple[Case, ...] = (
    Case(id="pool-200-lowercase-error", endpoint=Endpoint.REQUEST_POOL, status=200,
         body=b'{"error":"boom"}', outcome=Outcome.FAILS_COMMAND, error="remote: boom",
         cli="Error response from daemon: remote: boom"),
    Case(id="pool-numeric-poolid", endpoint=Endpoint.REQUEST_POOL, status=200,
         body=b'{"PoolID":5,"Pool":"10.77.0.0/24"}', outcome=Outcome.FAILS_COMMAND,
         error=("json: cannot unmarshal number into Go struct field RequestPoolResponse.PoolID "
                "of type string")),
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
         error="failed to allocate gateway (): No address returned"),
    Case(id="container-address-200-Err", endpoint=Endpoint.REQUEST_ADDRESS, status=200,
         body=b'{"Err":"nope"}', request={"PoolID": "p1", "Address": "", "Options": None},
         container=True, outcome=Outcome.FAILS_COMMAND, error="No address returned"),
    Case(id="release-pool-empty-200", endpoint=Endpoint.RELEASE_POOL, status=200, body=b"",
         request={"PoolID": "p1"}, outcome=Outcome.LOGGED, error="EOF",
         log="Failed to release address pool p1 on delete of network"),
    Case(id="release-address-200-Error", endpoint=Endpoint.RELEASE_ADDRESS, status=200,
         body=b'{"Error":"no such"}', request={"PoolID": "p1", "Address": "10.77.0.1"},
         outcome=Outcome.LOGGED, error="remote: no such",
         log="Failed to release gateway ip address 10.77.0.1 on delete of network"),
    Case(id="release-address-empty-200", endpoint=Endpoint.RELEASE_ADDRESS, status=200,
         body=b"", request={"PoolID": "p1", "Address": "10.77.0.1"}, outcome=Outcome.LOGGED,
         error="EOF", log="Failed to release gateway ip address 10.77.0.1"),
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
         cli="docker: Error response from daemon: Updating join info failed: EOF."),
    Case(id="caps-string-bool", endpoint=Endpoint.IPAM_GET_CAPABILITIES, status=200,
         body=b'{"RequiresMACAddress":"false"}', outcome=Outcome.LOGGED,
         error=("json: cannot unmarshal string into Go struct field "
                "GetCapabilityResponse.RequiresMACAddress of type bool"),
         log="does not support capabilities"),
)
