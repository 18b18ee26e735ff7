"""Every validation rule: one exchange sequence that triggers it and one that does not."""

from __future__ import annotations

import json

import pytest

from ipamx_spy.recording import Exchange, Fault, Message, encode_body
from ipamx_spy.validate import RULES, Validator

JSON_TYPE = "application/vnd.docker.plugins.v1.2+json"


def ex(endpoint: str, request: object = b"", answer: object = b"{}\n", *, status: int | None = 200,
       seq: int = 0, t: float = 0.0, ms: float = 1.0, ctype: str | None = JSON_TYPE,
       conn: int = 1) -> Exchange:
    """An exchange; dict/list bodies are written as dockerd writes JSON."""
    def raw(body: object) -> bytes:
        if isinstance(body, bytes):
            return body
        return (json.dumps(body, separators=(",", ":")) + "\n").encode()

    req, ans = raw(request), raw(answer)
    headers = () if ctype is None else (("Content-Type", ctype),)
    response = None if status is None else Message(
        status=status, reason="OK", headers=(*headers, ("Content-Length", str(len(ans)))),
        body=encode_body(ans))
    fault = None if status is not None else Fault(side="plugin", kind="closed",
                                                  message="closed without an answer")
    return Exchange(seq=seq, conn=conn, t=t, endpoint=endpoint, duration_ms=ms, fault=fault,
                    request=Message(method="POST", target=f"/{endpoint}",
                                    headers=(("Content-Length", str(len(req))),),
                                    body=encode_body(req)),
                    response=response)


def codes(exchanges: list[Exchange], **opts: object) -> list[str]:
    validator = Validator(**opts)  # type: ignore[arg-type]
    found = []
    for number, exchange in enumerate(exchanges, 1):
        numbered = Exchange(**{**exchange.__dict__, "seq": exchange.seq or number})
        found += [f.code for f in validator.check(numbered)]
    return found


ACTIVATE_IPAM = ex("Plugin.Activate", answer={"Implements": ["IpamDriver"]})
ACTIVATE_BOTH = ex("Plugin.Activate", answer={"Implements": ["NetworkDriver", "IpamDriver"]})
POOL_ASK = {"AddressSpace": "l", "Pool": "10.0.0.0/24", "SubPool": "", "Options": {}, "V6": False}
POOL = ex("IpamDriver.RequestPool", POOL_ASK, {"PoolID": "p", "Pool": "10.0.0.0/24"})


def address(answer: str, asked: str = "", pool: str = "p") -> Exchange:
    return ex("IpamDriver.RequestAddress", {"PoolID": pool, "Address": asked, "Options": None},
              {"Address": answer})


def release(ip: str, pool: str = "p") -> Exchange:
    return ex("IpamDriver.ReleaseAddress", {"PoolID": pool, "Address": ip})


def endpoint(answer: dict[str, object], sent: dict[str, str] | None = None) -> Exchange:
    interface = {"Address": "10.0.0.2/24", "AddressIPv6": "", "MacAddress": "", **(sent or {})}
    return ex("NetworkDriver.CreateEndpoint",
              {"NetworkID": "n", "EndpointID": "e", "Interface": interface, "Options": {}},
              answer)


# code -> (exchanges that trigger it, exchanges that do not)
CASES: dict[str, tuple[list[Exchange], list[Exchange]]] = {
    "IPX001": ([ex("Foo.Bar")], [ex("IpamDriver.ReleasePool", {"PoolID": "p"})]),
    "IPX101": ([ex("IpamDriver.RequestPool", POOL_ASK, b"boom\n", status=500, ctype="text/plain")],
               [ex("IpamDriver.RequestPool", POOL_ASK, {"Err": "boom"}, status=500)]),
    "IPX102": ([ex("IpamDriver.RequestPool", POOL_ASK, b"")], [POOL]),
    "IPX103": ([ex("NetworkDriver.CreateNetwork", {"NetworkID": "n"}, {"Error": "x"})],
               [ex("NetworkDriver.CreateNetwork", {"NetworkID": "n"}, {"Err": "x"})]),
    "IPX104": ([ex("IpamDriver.ReleasePool", {"PoolID": "p"}, {"Err": "x"})],
               [ex("IpamDriver.ReleasePool", {"PoolID": "p"}, {"Error": "x"})]),
    "IPX105": ([ex("IpamDriver.ReleasePool", {"PoolID": "p"}, {"Error": "x"}, status=500)],
               [ex("IpamDriver.ReleasePool", {"PoolID": "p"}, {"Err": "x"}, status=500)]),
    "IPX106": ([ex("IpamDriver.GetCapabilities", answer=b"not json")],
               [ex("IpamDriver.GetCapabilities", answer=b"null")]),
    "IPX107": ([ex("IpamDriver.GetCapabilities", answer=b"[1]")],
               [ex("IpamDriver.GetCapabilities", answer=b"{}")]),
    "IPX108": ([ex("IpamDriver.GetCapabilities", answer=b"{} trailing")],
               [ex("IpamDriver.GetCapabilities", answer=b"{}\n\n")]),
    "IPX201": ([ex("IpamDriver.GetCapabilities", answer={"RequiresMACAddress": "true"})],
               [ex("IpamDriver.GetCapabilities", answer={"RequiresMACAddress": True})]),
    "IPX202": ([ex("IpamDriver.RequestPool", POOL_ASK, {"Pool": "10.0.0.0/24"})], [POOL]),
    "IPX203": ([POOL, address("10.0.0.2")], [POOL, address("10.0.0.2/24")]),
    "IPX204": ([ex("IpamDriver.RequestPool", POOL_ASK, {"PoolID": "p", "Pool": "10.0.0.0/33"})],
               [POOL]),
    "IPX205": ([ex("NetworkDriver.GetCapabilities", answer={"Scope": "Local"})],
               [ex("NetworkDriver.GetCapabilities", answer={"Scope": "local"})]),
    "IPX206": ([POOL, address("10.9.9.9/24")], [POOL, address("10.0.0.9/24")]),
    "IPX207": ([POOL, address("10.0.0.6/24", asked="10.0.0.5")],
               [POOL, address("10.0.0.5/24", asked="10.0.0.5")]),
    "IPX208": ([POOL, address("10.0.0.5/16")], [POOL, address("10.0.0.5/24")]),
    "IPX209": ([ex("IpamDriver.RequestPool", POOL_ASK, {"PoolID": "p", "Pool": "10.1.0.0/24"})],
               [POOL]),
    "IPX210": ([ex("NetworkDriver.Join", {"NetworkID": "n"}, {"Gateway": "10.0.0.1/24"})],
               [ex("NetworkDriver.Join", {"NetworkID": "n"}, {"Gateway": "10.0.0.1"})]),
    "IPX211": ([endpoint({"Interface": {"Address": "10.0.0.2/24"}})],
               [endpoint({"Interface": {"MacAddress": "02:42:0a:00:00:02"}})]),
    "IPX212": ([endpoint({"Interface": {"MacAddress": "zz:zz"}})],
               [endpoint({"Interface": {"MacAddress": "02-42-0A-00-00-02"}})]),
    "IPX213": ([ex("IpamDriver.RequestPool", POOL_ASK, {"poolid": "p", "Pool": "10.0.0.0/24"})],
               [POOL]),
    "IPX214": ([ex("IpamDriver.GetCapabilities", answer={"Extra": 1})],
               [ex("IpamDriver.GetCapabilities", answer={"RequiresRequestReplay": True})]),
    "IPX215": ([ex("Plugin.Activate", answer={"Implements": ["VolumeDriver"]})],
               [ACTIVATE_IPAM]),
    "IPX301": ([POOL, address("10.0.0.2/24"), address("10.0.0.2/24")],
               [POOL, address("10.0.0.2/24"), release("10.0.0.2"), address("10.0.0.2/24")]),
    "IPX302": ([ACTIVATE_IPAM, POOL, release("10.0.0.7")],
               [ACTIVATE_IPAM, POOL, address("10.0.0.7/24"), release("10.0.0.7")]),
    "IPX303": ([ACTIVATE_IPAM, POOL] + [ex("IpamDriver.ReleasePool", {"PoolID": "p"})] * 2,
               [ACTIVATE_IPAM, POOL, ex("IpamDriver.ReleasePool", {"PoolID": "p"})]),
    "IPX304": ([ACTIVATE_IPAM, address("10.0.0.2/24", pool="ghost")],
               [address("10.0.0.2/24", pool="ghost"), ACTIVATE_IPAM,
                address("10.0.0.3/24", pool="ghost")]),
    "IPX305": ([ex("Plugin.Activate", answer=b"no\n", status=500, ctype="text/plain"), POOL],
               [ex("Plugin.Activate", answer=b"no\n", status=500, ctype="text/plain"),
                ACTIVATE_IPAM, POOL]),
    "IPX306": ([ACTIVATE_IPAM, ex("NetworkDriver.CreateNetwork", {"NetworkID": "n"})],
               [ACTIVATE_BOTH, ex("NetworkDriver.CreateNetwork", {"NetworkID": "n"})]),
    "IPX401": ([ex("IpamDriver.GetCapabilities", ms=1500.0)],
               [ex("IpamDriver.GetCapabilities", ms=999.0)]),
    "IPX402": ([ex("IpamDriver.RequestPool", POOL_ASK, status=None)], [POOL]),
    "IPX403": ([ex("IpamDriver.GetCapabilities", ctype="text/html")],
               [ex("IpamDriver.GetCapabilities", ctype="application/json; charset=utf-8")]),
    "IPX404": ([ex("IpamDriver.RequestPool", b"", {"Err": "empty body"}, status=400)], [POOL]),
    "IPX405": ([ex("IpamDriver.ReleaseAddress", b"", {})],
               [ex("IpamDriver.ReleaseAddress", b"", {"Err": "empty body"}, status=400)]),
}


def test_every_rule_has_a_case() -> None:
    assert set(CASES) == set(RULES)


@pytest.mark.parametrize("code", sorted(CASES))
def test_rule_triggers(code: str) -> None:
    trigger, _clean = CASES[code]
    assert code in codes(trigger)


@pytest.mark.parametrize("code", sorted(CASES))
def test_rule_stays_quiet(code: str) -> None:
    _trigger, clean = CASES[code]
    assert code not in codes(clean)


def test_findings_name_the_exchange_and_have_the_rule_severity() -> None:
    validator = Validator()
    validator.check(ex("IpamDriver.RequestPool", POOL_ASK, {"PoolID": "p", "Pool": "10.0.0.0/24"},
                       seq=4))
    [finding] = validator.check(ex("IpamDriver.RequestAddress",
                                   {"PoolID": "p", "Address": "", "Options": None},
                                   {"Address": "10.0.0.2"}, seq=5))
    assert (finding.code, finding.seq, finding.severity) == ("IPX203", 5, "error")
    assert "invalid CIDR address: 10.0.0.2" in finding.message


def test_type_error_quotes_what_dockerd_says() -> None:
    [finding] = Validator().check(ex("IpamDriver.RequestPool", POOL_ASK,
                                     {"PoolID": "p", "Pool": "10.0.0.0/24", "Data": {"k": 1}}))
    assert ("json: cannot unmarshal number into Go struct field RequestPoolResponse.Data of "
            "type string") in finding.message


def test_empty_body_retry_names_the_first_attempt() -> None:
    first = ex("IpamDriver.RequestPool", POOL_ASK, status=None, t=10.0, conn=1)
    retry = ex("IpamDriver.RequestPool", b"", {"Err": "empty"}, status=400, t=11.0, conn=2)
    validator = Validator()
    validator.check(Exchange(**{**first.__dict__, "seq": 7}))
    [finding] = validator.check(Exchange(**{**retry.__dict__, "seq": 8}))
    assert finding.code == "IPX404" and "1.0 s after #7 went unanswered" in finding.message


@pytest.mark.parametrize("fast_lane", [True, False])
@pytest.mark.parametrize("between", [0, 63, 64, 200])
def test_empty_body_retry_looks_back_64_attempts(between: int, fast_lane: bool) -> None:
    """The first attempt is named when it is among the last 64 attempts before the retry,
    however many of them were answered (each lane counts an answered one, keeps no copy)."""
    spaces = {"LocalDefaultAddressSpace": "l", "GlobalDefaultAddressSpace": "g"}
    validator = Validator(fast_lane=fast_lane)
    first = ex("IpamDriver.RequestPool", POOL_ASK, status=None, t=10.0, seq=1)
    validator.check(first)
    for number in range(between):
        answered = ex("IpamDriver.GetDefaultAddressSpaces", answer=spaces, seq=2 + number,
                      t=10.0 + number / 1000)
        assert validator.check(answered) == []
        assert validator.last_plain is fast_lane
    retry = ex("IpamDriver.RequestPool", b"", {"Err": "empty"}, status=400, t=11.0, conn=2,
               seq=2 + between)
    [empty] = validator.check(retry)
    assert empty.code == "IPX404"
    assert ("1.0 s after #1 went unanswered" in empty.message) is (between < 64)


def test_answers_made_up_by_the_proxy_are_not_judged_as_the_plugins() -> None:
    made_up = Exchange(**{**ex("IpamDriver.RequestPool", POOL_ASK, b"", status=502).__dict__,
                          "answered_by": "spy",
                          "fault": Fault(side="plugin", kind="unreachable", message="refused")})
    assert codes([made_up]) == ["IPX402"]


def test_docker_side_hangups_are_not_the_plugins_fault() -> None:
    hung = Exchange(**{**ex("IpamDriver.RequestPool", POOL_ASK, status=None).__dict__,
                       "fault": Fault(side="docker", kind="truncated", message="dockerd left")})
    assert codes([hung]) == []


def test_on_close_reports_each_unanswered_request_once() -> None:
    validator = Validator()
    validator.check(ex("IpamDriver.RequestPool", POOL_ASK, status=None, seq=3))
    assert validator.on_close(1, 5.0, [3]) == []
    [finding] = validator.on_close(2, 6.0, [4])
    assert (finding.code, finding.seq) == ("IPX402", 4)
    assert [f.code for f in validator.on_close(3, 7.0, True)] == ["IPX402"]


def test_restart_replay_is_not_a_double_allocation() -> None:
    replayed = [ACTIVATE_IPAM, POOL, address("10.0.0.1/24", asked="10.0.0.1"),
                ACTIVATE_IPAM, POOL, address("10.0.0.1/24", asked="10.0.0.1"),
                release("10.0.0.1")]
    assert codes(replayed) == []


def test_slow_threshold_is_an_option() -> None:
    assert codes([ex("IpamDriver.GetCapabilities", ms=300.0)], slow_ms=200.0) == ["IPX401"]


def test_newer_fields_are_judged_by_the_daemon_version() -> None:
    caps = ex("NetworkDriver.GetCapabilities", answer={"Scope": "local", "GwAllocChecker": "yes"})
    assert codes([caps], docker_version="29") == ["IPX201"]
    assert codes([caps], docker_version="20.10.24") == ["IPX214"]


def test_an_empty_200_to_a_release_is_only_logged() -> None:
    [finding] = Validator().check(ex("IpamDriver.ReleasePool", {"PoolID": "p"}, b""))
    assert finding.code == "IPX102"
    assert "dockerd only logs it" in finding.message
    assert "Error response from daemon" not in finding.message
    [fails] = Validator().check(ex("IpamDriver.RequestPool", POOL_ASK, b""))
    assert "Error response from daemon: EOF" in fails.message


def test_a_string_bool_in_capabilities_is_logged_and_defaults_are_used() -> None:
    found = Validator().check(ex("IpamDriver.GetCapabilities",
                                 answer={"RequiresMACAddress": "false"}))
    [finding] = [f for f in found if f.code == "IPX201"]
    assert "dockerd only logs it" in finding.message and "default capabilities" in finding.message


def test_no_answer_promises_a_retry_after_one_second_not_a_failure() -> None:
    from ipamx_spy.validate.transport import Transport

    message = Transport().unanswered(3, "IpamDriver.RequestPool", " (Connection refused)").message
    assert "retries 1 s later" in message and "with its body" in message
    assert "only if every attempt fails" in message


def test_an_ipv6_pool_for_a_v4_request_is_flagged() -> None:
    ask = {**POOL_ASK, "Pool": ""}
    found = Validator().check(ex("IpamDriver.RequestPool", ask,
                                 {"PoolID": "p", "Pool": "fd00:1::/64"}))
    assert [f.code for f in found] == ["IPX209"]
    assert "IPv4 pool (V6 false)" in found[0].message
    assert Validator().check(ex("IpamDriver.RequestPool", {**ask, "V6": True},
                                {"PoolID": "p", "Pool": "fd00:1::/64"})) == []


def test_error_fields_are_found_as_gos_decoder_finds_them() -> None:
    def codes(exchange: Exchange) -> list[str]:
        return [f.code for f in Validator().check(exchange)]

    # a 200 answer is read up to its first value: Err before trailing junk still misleads
    assert codes(ex("IpamDriver.ReleasePool", {"PoolID": "p"}, b'{"Err":"x"} junk')) == \
        ["IPX104", "IPX108"]
    # keys in any case are the fields Go stores them in
    assert codes(ex("IpamDriver.ReleasePool", {"PoolID": "p"}, {"eRR": "x"})) == ["IPX104"]
    assert codes(ex("NetworkDriver.CreateNetwork", {"NetworkID": "n"}, {"ERROR": "x"})) == \
        ["IPX103"]
    assert codes(ex("IpamDriver.ReleasePool", {"PoolID": "p"}, {"ERROR": "x"},
                    status=500)) == ["IPX105"]
    assert codes(ex("IpamDriver.ReleasePool", {"PoolID": "p"}, {"eRr": "x"}, status=500)) == []
    # a non-200 answer is read whole (json.Unmarshal): trailing data hides its Err
    assert codes(ex("IpamDriver.ReleasePool", {"PoolID": "p"}, b'{"Err":"x"} junk',
                    status=500)) == ["IPX101"]


@pytest.mark.parametrize("fast_lane", [True, False])
def test_an_unlisted_interface_is_judged_by_the_latest_activate(fast_lane: bool) -> None:
    """IPX306 follows each Activate's Implements (what the validator keeps per endpoint is
    worked out again after every Activate)."""
    create = ex("NetworkDriver.CreateNetwork", {"NetworkID": "n"})
    assert codes([ACTIVATE_IPAM, create, create, ACTIVATE_BOTH, create, ACTIVATE_IPAM, create],
                 fast_lane=fast_lane) == ["IPX306", "IPX306", "IPX306"]
