"""dockerd's reading of plugin answers; the expected texts were printed by dockerd 20.10.24."""

from __future__ import annotations

import pytest

from ipamx_spy.emulator.core import call_answer

CASES = [
    # (endpoint, status, body, error dockerd returns, or None for success)
    ("IpamDriver.RequestPool", 200, b"", "EOF"),
    ("IpamDriver.RequestAddress", 500, b'{"Err":"no gw"}', "IpamDriver.RequestAddress: no gw"),
    ("IpamDriver.RequestPool", 500, b"boom\n", "IpamDriver.RequestPool: boom\n"),
    ("IpamDriver.RequestPool", 204, b"", "IpamDriver.RequestPool: "),
    ("IpamDriver.RequestPool", 500, b'{"err":"lower case"}', "IpamDriver.RequestPool: lower case"),
    ("IpamDriver.RequestPool", 500, b'{"Err":1}', 'IpamDriver.RequestPool: {"Err":1}'),
    ("IpamDriver.RequestAddress", 200, b'{"Error":"unknown pool"}\n', "remote: unknown pool"),
    ("IpamDriver.RequestAddress", 200, b'{"Err":"ignored"}\n', None),
    ("NetworkDriver.CreateEndpoint", 200, b'{"Err":"ep fail"}', "remote: ep fail"),
    ("NetworkDriver.CreateNetwork", 200, b'{"Error":"nope"}', None),
    ("IpamDriver.RequestPool", 200, b'{"PoolID":"x","Pool":"10.25.0.0/24","Data":{"k":1}}',
     "json: cannot unmarshal number into Go struct field RequestPoolResponse.Data of type "
     "string"),
    ("IpamDriver.RequestPool", 200, b"[1]",
     "json: cannot unmarshal array into Go value of type api.RequestPoolResponse"),
    ("IpamDriver.RequestPool", 200, b'{"PoolID":"x","Pool":"10.25.0.0/24"} trailing', None),
    ("Plugin.Activate", 200, b'{"Implements":"IpamDriver"}',
     "json: cannot unmarshal string into Go struct field Manifest.Implements of type "
     "[]string"),
    ("NetworkDriver.Join", 200, b'{"StaticRoutes":[{"RouteType":"0"}]}',
     "json: cannot unmarshal string into Go struct field StaticRoute.StaticRoutes.RouteType of "
     "type int"),
    ("NetworkDriver.ProgramExternalConnectivity", 404, b"404 page not found\n", None),
    ("NetworkDriver.Leave", 404, b"404 page not found\n",
     "NetworkDriver.Leave: 404 page not found\n"),
    ("IpamDriver.GetCapabilities", 200, b"null", None),
]


@pytest.mark.parametrize(("endpoint", "status", "body", "error"), CASES)
def test_dockerd_verdict(endpoint: str, status: int, body: bytes, error: str | None) -> None:
    assert call_answer(endpoint, status, body).error == error


def test_keys_match_case_insensitively_and_unknown_ones_are_ignored() -> None:
    answer = call_answer("IpamDriver.RequestPool", 200,
                         b'{"poolid":"p","POOL":"10.0.0.0/24","extra":1}')
    assert answer.ok
    assert answer.value["PoolID"] == "p" and answer.value["Pool"] == "10.0.0.0/24"


def test_fields_added_later_are_unknown_to_older_daemons() -> None:
    body = b'{"Scope":"local","GwAllocChecker":"yes"}'
    assert call_answer("NetworkDriver.GetCapabilities", 200, body, major=20).ok
    assert not call_answer("NetworkDriver.GetCapabilities", 200, body, major=29).ok
