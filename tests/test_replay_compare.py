"""Protocol-aware comparison: what must be equal, what only needs to be valid, and the words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ipamx_spy.dockerd.ledger import Ledger
from ipamx_spy.recording import Exchange, Message, encode_body, go_json, load
from ipamx_spy.replay.bindings import Bindings
from ipamx_spy.replay.compare import (
    Live,
    Problem,
    Rules,
    answer_version,
    compare,
    outcome,
    recorded_outcome,
)

POOL_ID = "LocalDefault/10.4.4.0/24"
POOL_REQUEST = {"AddressSpace": "LocalDefault", "Pool": "", "SubPool": "", "Options": {},
                "V6": False}


def check(endpoint: str, request: object, recorded: object, live: object | bytes, *,
          recorded_status: int = 200, status: int = 200, rules: Rules = Rules(),
          bindings: Bindings | None = None, ledger: Ledger | None = None,
          content_type: str | None = None) -> list[Problem]:
    body = live if isinstance(live, bytes) else json.dumps(live).encode()
    return compare(endpoint=endpoint, request=request, recorded_status=recorded_status,
                   recorded_body=json.dumps(recorded).encode(),
                   live=Live(status=status, body=body, content_type=content_type),
                   bindings=bindings or Bindings(), ledger=ledger or Ledger(), rules=rules)


def messages(problems: list[Problem]) -> str:
    return "\n".join(p.message for p in problems)


def held_pool() -> Ledger:
    ledger = Ledger()
    ledger.update("IpamDriver.RequestPool", {"AddressSpace": "LocalDefault"},
                  {"PoolID": POOL_ID, "Pool": "10.4.4.0/24", "Data": {}})
    ledger.update("IpamDriver.RequestAddress", {"PoolID": POOL_ID}, {"Address": "10.4.4.1/24"})
    return ledger


def test_key_order_whitespace_and_key_case_never_matter() -> None:
    live = b'{ "data" : {},\n "Address": "10.4.4.21/24" }'
    assert check("IpamDriver.RequestAddress", {"PoolID": POOL_ID, "Address": "10.4.4.21"},
                 {"Address": "10.4.4.21/24", "Data": {}}, live) == []


def test_an_address_dockerd_asked_for_must_be_equal() -> None:
    problems = check("IpamDriver.RequestAddress", {"PoolID": POOL_ID, "Address": "10.4.4.21"},
                     {"Address": "10.4.4.21/24", "Data": {}},
                     {"Address": "10.4.4.22/24", "Data": {}})
    assert messages(problems) == ('Address: the recording has "10.4.4.21/24", the plugin '
                                  'answered "10.4.4.22/24"')


@pytest.mark.parametrize(("picked", "says"), [
    ("10.4.4.2/24", None),
    ("10.9.9.2/24", "Address: 10.9.9.2 is outside the pool 10.4.4.0/24"),
    ("10.4.4.1/24", "Address: 10.4.4.1 is already in use in the pool 10.4.4.0/24"),
    ("10.4.4.2/32", "Address: prefix length /32 differs from the pool's /24"),
    ("10.4.4.2", "dockerd would see an error, 'invalid CIDR address: 10.4.4.2', where the "
                 "recording succeeded"),
])
def test_an_address_the_allocator_picked_only_needs_to_be_valid(picked: str,
                                                                says: str | None) -> None:
    problems = check("IpamDriver.RequestAddress", {"PoolID": POOL_ID, "Address": ""},
                     {"Address": "10.4.4.3/24", "Data": {}}, {"Address": picked, "Data": {}},
                     ledger=held_pool())
    assert (not problems) if says is None else says in messages(problems)


def test_strict_demands_the_recorded_pick() -> None:
    problems = check("IpamDriver.RequestAddress", {"PoolID": POOL_ID, "Address": ""},
                     {"Address": "10.4.4.3/24", "Data": {}}, {"Address": "10.4.4.2/24",
                                                               "Data": {}},
                     ledger=held_pool(), rules=Rules(strict=True))
    assert "Address: the recording has" in messages(problems)


@pytest.mark.parametrize(("pool", "request_v6", "says"), [
    ("172.19.0.0/16", False, None),
    ("172.19.0.1/16", False, "has host bits set"),
    ("fd00::/64", False, "an IPv6 pool for a request with V6 false"),
    ("10.4.0.0/16", False, "overlaps 10.4.4.0/24 (PoolID 'LocalDefault/10.4.4.0/24'), still held"),
])
def test_a_dynamic_pool_must_be_canonical_of_the_right_family_and_free(
        pool: str, request_v6: bool, says: str | None) -> None:
    problems = check("IpamDriver.RequestPool", {**POOL_REQUEST, "V6": request_v6},
                     {"PoolID": "LocalDefault/172.18.0.0/16", "Pool": "172.18.0.0/16",
                      "Data": {}},
                     {"PoolID": f"LocalDefault/{pool}", "Pool": pool, "Data": {}},
                     ledger=held_pool())
    assert (not problems) if says is None else says in messages(problems)


def test_a_static_pool_must_be_the_one_asked_for() -> None:
    problems = check("IpamDriver.RequestPool", {**POOL_REQUEST, "Pool": "10.4.4.0/24"},
                     {"PoolID": POOL_ID, "Pool": "10.4.4.0/24", "Data": {}},
                     {"PoolID": "x", "Pool": "10.4.5.0/24", "Data": {}})
    assert messages(problems) == ('Pool: the recording has "10.4.4.0/24", the plugin answered '
                                  '"10.4.5.0/24"')


def test_a_pool_id_already_held_is_refused() -> None:
    problems = check("IpamDriver.RequestPool", POOL_REQUEST,
                     {"PoolID": "A/172.18.0.0/16", "Pool": "172.18.0.0/16"},
                     {"PoolID": POOL_ID, "Pool": "172.18.0.0/16"}, ledger=held_pool())
    assert "PoolID: \"LocalDefault/10.4.4.0/24\" already names the pool 10.4.4.0/24" in (
        messages(problems))


def test_a_string_where_a_bool_belongs_is_named_like_go_names_it() -> None:
    problems = check("IpamDriver.GetCapabilities", None,
                     {"RequiresMACAddress": False, "RequiresRequestReplay": True},
                     {"RequiresMACAddress": False, "RequiresRequestReplay": "true"})
    assert messages(problems) == (
        "dockerd would see an error, 'json: cannot unmarshal string into Go struct field "
        "GetCapabilityResponse.RequiresRequestReplay of type bool', where the recording "
        "succeeded (dockerd only logs it, as: remote ipam driver <name> does not support "
            "capabilities; the command goes on)")


def test_error_on_success_for_ipam_is_an_error() -> None:
    problems = check("IpamDriver.RequestPool", POOL_REQUEST,
                     {"PoolID": POOL_ID, "Pool": "10.4.4.0/24"},
                     {"PoolID": POOL_ID, "Pool": "10.4.4.0/24", "Error": "no"})
    assert messages(problems) == ("dockerd would see an error, 'remote: no', where the "
                                  "recording succeeded")


def test_error_field_of_the_other_api_is_ignored_as_dockerd_ignores_it() -> None:
    # PROTOCOL.md 1.3: a NetworkDriver answer is read for Err only.
    assert check("NetworkDriver.CreateNetwork", {"NetworkID": "n"}, {},
                 {"Error": "ignored by dockerd"}) == []


def test_an_error_must_stay_an_error_but_its_text_may_differ() -> None:
    recorded = {"Error": "Address already in use"}
    assert check("IpamDriver.RequestAddress", {}, recorded, {"Error": "taken"}) == []
    problems = check("IpamDriver.RequestAddress", {}, recorded, {"Address": "10.4.4.21/24"})
    assert "dockerd would see success where the recording has the error 'remote: Address " \
           "already in use'" in messages(problems)
    strict = check("IpamDriver.RequestAddress", {}, recorded, {"Error": "taken"},
                   rules=Rules(strict=True))
    assert "error text: the recording has 'remote: Address already in use'" in messages(strict)


def test_status_must_match() -> None:
    problems = check("IpamDriver.RequestPool", POOL_REQUEST, {"Err": "x"}, {"Err": "x"},
                     recorded_status=500, status=400)
    assert messages(problems) == "status: the recording has HTTP 500, the plugin answered HTTP 400"


def test_html_error_page_is_named() -> None:
    problems = check("IpamDriver.RequestPool", POOL_REQUEST,
                     {"PoolID": POOL_ID, "Pool": "10.4.4.0/24"},
                     b"<html><body>oops</body></html>", status=500, content_type="text/html")
    text = messages(problems)
    assert "status: the recording has HTTP 200, the plugin answered HTTP 500" in text
    assert "the error is not JSON (text/html), so dockerd shows the raw body" in text


def test_200_with_an_empty_body_fails_with_eof() -> None:
    problems = check("IpamDriver.RequestPool", POOL_REQUEST,
                     {"PoolID": POOL_ID, "Pool": "10.4.4.0/24"}, b"")
    assert "HTTP 200 with an empty body: dockerd fails with 'EOF'" in messages(problems)


def test_200_with_text_fails_like_gos_decoder() -> None:
    problems = check("IpamDriver.ReleasePool", {"PoolID": POOL_ID}, {}, b"ok\n")
    assert "invalid character 'o' looking for beginning of value" in messages(problems)


def test_absent_null_and_zero_are_the_same_unless_strict() -> None:
    recorded = {"Address": "10.4.4.21/24", "Data": {}}
    request = {"PoolID": POOL_ID, "Address": "10.4.4.21"}
    assert check("IpamDriver.RequestAddress", request, recorded,
                 {"Address": "10.4.4.21/24"}) == []
    strict = check("IpamDriver.RequestAddress", request, recorded, {"Address": "10.4.4.21/24"},
                   rules=Rules(strict=True))
    assert messages(strict) == 'Data: the recording has {}, the plugin answered nothing (absent)'


def test_unknown_keys_are_ignored_unless_strict() -> None:
    request = {"PoolID": POOL_ID}
    assert check("IpamDriver.ReleasePool", request, {}, {"Comment": "released"}) == []
    assert check("IpamDriver.ReleasePool", request, {}, {"Comment": "released"},
                 rules=Rules(strict=True))


def test_a_required_field_that_went_missing_is_named() -> None:
    problems = check("IpamDriver.GetDefaultAddressSpaces", None,
                     {"LocalDefaultAddressSpace": "L", "GlobalDefaultAddressSpace": "G"},
                     {"LocalDefaultAddressSpace": "L"})
    assert messages(problems) == 'GlobalDefaultAddressSpace is missing; the recording has "G"'


def test_ignore_drops_a_path_for_all_endpoints_or_one() -> None:
    recorded = {"Scope": "local", "ConnectivityScope": "global"}
    live = {"Scope": "local", "ConnectivityScope": "local"}
    assert check("NetworkDriver.GetCapabilities", None, recorded, live)
    assert check("NetworkDriver.GetCapabilities", None, recorded, live,
                 rules=Rules(ignore=("ConnectivityScope",))) == []
    assert check("NetworkDriver.GetCapabilities", None, recorded, live,
                 rules=Rules(ignore=("NetworkDriver.GetCapabilities:ConnectivityScope",))) == []
    assert check("NetworkDriver.GetCapabilities", None, recorded, live,
                 rules=Rules(ignore=("IpamDriver.RequestPool:ConnectivityScope",)))


def test_expected_values_go_through_the_bindings() -> None:
    bindings = Bindings()
    bindings.bind("10.4.4.1/24", "10.4.4.9/24")
    assert check("NetworkDriver.Join", {"NetworkID": "n"}, {"Gateway": "10.4.4.1"},
                 {"Gateway": "10.4.4.9"}, bindings=bindings) == []


def test_a_mac_the_driver_fills_in_must_be_a_mac() -> None:
    recorded = {"Interface": {"MacAddress": "02:42:0a:de:00:c8"}}
    assert check("NetworkDriver.CreateEndpoint", {}, recorded,
                 {"Interface": {"MacAddress": "02:42:0a:de:00:c9"}}) == []
    problems = check("NetworkDriver.CreateEndpoint", {}, recorded,
                     {"Interface": {"MacAddress": "zz"}})
    assert "'address zz: invalid MAC address'" in messages(problems)


def test_an_answer_identical_to_the_recording_never_fails() -> None:
    # A plugin that answers a string where Go wants a bool: what dockerd got in the recording.
    body = {"RequiresMACAddress": "false"}
    assert check("IpamDriver.GetCapabilities", None, body, body) == []
    pool = {"PoolID": POOL_ID, "Pool": "10.4.4.0/24", "Data": {}}
    assert check("IpamDriver.RequestPool", POOL_REQUEST, pool, pool, ledger=held_pool()) == []


def test_address_space_names_are_the_plugins_choice() -> None:
    assert check("IpamDriver.GetDefaultAddressSpaces", None,
                 {"LocalDefaultAddressSpace": "L", "GlobalDefaultAddressSpace": "G"},
                 {"LocalDefaultAddressSpace": "blue", "GlobalDefaultAddressSpace": "red"}) == []
    problems = check("IpamDriver.GetDefaultAddressSpaces", None,
                     {"LocalDefaultAddressSpace": "L", "GlobalDefaultAddressSpace": "G"},
                     {"LocalDefaultAddressSpace": "", "GlobalDefaultAddressSpace": "red"})
    assert "LocalDefaultAddressSpace: empty" in messages(problems)


@pytest.mark.parametrize(("mac", "valid"), [
    ("aa:bb:cc:dd:ee:ff", True), ("aa-bb-cc-dd-ee-ff", True), ("aabb.ccdd.eeff", True),
    ("aa:bb:cc:dd:ee:ff:00:11", True), ("aa:bb:cc:dd:ee", False), ("not-a-mac", False)])
def test_a_chosen_mac_is_judged_by_gos_parse_mac(mac: str, valid: bool) -> None:
    """Replay reads a chosen MAC with the authority's verdict (Go's ParseMAC), as the
    validator does: every form Go accepts passes, anything else is the error dockerd sees."""
    request = {"NetworkID": "n", "EndpointID": "e", "Interface": {"Address": "10.0.0.2/24"},
               "Options": {}}
    recorded = {"Interface": {"MacAddress": "02:42:0a:00:00:02"}}
    problems = check("NetworkDriver.CreateEndpoint", request, recorded,
                     {"Interface": {"MacAddress": mac}})
    assert (problems == []) is valid, messages(problems)
    if not valid:
        assert f"address {mac}: invalid MAC address" in messages(problems)


# -- the recorded answer's reading: the plain lane agrees with dockerd's reading ------------

ROOT = Path(__file__).resolve().parent.parent
RECORDINGS = sorted(ROOT.glob("recordings/**/*.jsonl"))


def _readings_agree(exchange: Exchange) -> bool:
    assert exchange.response is not None
    raw = exchange.response.raw_body
    return recorded_outcome(exchange, raw) == outcome(
        exchange.endpoint, exchange.response.status, raw, answer_version(exchange),
        request=exchange.request.value)


@pytest.mark.parametrize("path", RECORDINGS, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_recorded_answer_is_read_as_dockerd_reads_it_in_every_recording(path: Path) -> None:
    answered = [e for e in load(path).exchanges if e.response is not None]
    assert answered
    assert all(_readings_agree(e) for e in answered)


ANSWER_KEYS = ["Address", "address", "Data", "PoolID", "Pool", "Error", "Err", "err",
               "RequiresMACAddress", "RequiresRequestReplay", "LocalDefaultAddressSpace",
               "GlobalDefaultAddressSpace", "Implements", "Other"]
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2, 2), st.sampled_from(
    ["", "x", "10.0.0.2/24", "10.0.0.2", "10.0.0.0/24", "fd00::1/64", "001.2.3.4/24", "p"]))
VALUES = st.one_of(SCALARS, st.dictionaries(st.sampled_from(["a", "k"]), SCALARS, max_size=2),
                   st.lists(SCALARS, max_size=2))
ENDPOINTS = ["Plugin.Activate", "IpamDriver.GetCapabilities",
             "IpamDriver.GetDefaultAddressSpaces", "IpamDriver.RequestPool",
             "IpamDriver.RequestAddress", "IpamDriver.ReleaseAddress", "IpamDriver.ReleasePool",
             "NetworkDriver.CreateNetwork", "NetworkDriver.Join", "Unknown.Call"]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ENDPOINTS), st.dictionaries(st.sampled_from(ANSWER_KEYS), VALUES,
                                                   max_size=4),
       st.sampled_from(["go", "spaced", "trailing", "empty", "null"]),
       st.sampled_from([200, 200, 500, 404]))
def test_a_generated_recorded_answer_is_read_as_dockerd_reads_it(
        endpoint: str, value: dict[str, object], layout: str, status: int) -> None:
    body = {"go": (go_json(value) + "\n").encode(), "spaced": json.dumps(value).encode(),
            "trailing": (go_json(value) + "\nx").encode(), "empty": b"",
            "null": b"null"}[layout]
    exchange = Exchange(
        seq=1, conn=1, t=0.0, endpoint=endpoint,
        request=Message(method="POST", target=f"/{endpoint}", headers=(),
                        body=encode_body(b'{"PoolID":"p"}\n')),
        response=Message(status=status, reason="OK", body=encode_body(body), headers=(
            ("Content-Type", "application/vnd.docker.plugins.v1.2+json"),)))
    assert _readings_agree(exchange)
