"""Go's address parsers (``ipamx_spy.dockerd.goparse``): the fast IPv4 path and the cache
answer exactly as the ``ipaddress``-based definition does."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from ipamx_spy.dockerd import goparse
from ipamx_spy.dockerd.goparse import cidr_ip, parse_cidr, parse_ip


def reference_ip(text: str) -> object:
    if "%" in text or "/" in text:
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def reference_cidr(text: str) -> object:
    if text.count("/") != 1:
        return None
    address, length = text.split("/")
    ip = reference_ip(address)
    digits = length.lstrip("0") or "0"  # Go reads any run of decimal digits
    if ip is None or not (length.isascii() and length.isdigit()) or len(digits) > 3 \
            or int(digits) > ip.max_prefixlen:  # type: ignore[attr-defined]
        return None
    return ipaddress.ip_interface(f"{ip}/{int(digits)}")


PIECES = st.sampled_from(["0", "1", "01", "10", "255", "256", "999", "1000", "", " ", "a",
                          "٣", "²", "+1", "-1", "::", "fd00", "ffff", "%eth0"])
TEXTS = st.one_of(
    st.lists(PIECES, min_size=1, max_size=6).map(".".join),
    st.tuples(st.lists(PIECES, min_size=1, max_size=5).map(".".join), PIECES).map("/".join),
    st.tuples(st.lists(PIECES, min_size=4, max_size=4).map(".".join),
              st.sampled_from(["0", "8", "24", "32", "33", "024", "", "x"])).map("/".join),
    st.text(alphabet="0123456789abcdef.:/%", max_size=24),
    st.tuples(st.sampled_from(["10.1.2.3", "0.0.0.0", "255.255.255.255", "fd00::5", "::"]),
              st.sampled_from(["0", "00", "024", "0024", "128", "129", "0128", "1000", "٣",
                               "²", "+8", " 8", "8 ", "0" * 5000 + "24", "1" * 5000])
              ).map("/".join),
)


@settings(max_examples=2000, deadline=None)
@given(TEXTS)
def test_parsers_agree_with_the_reference(text: str) -> None:
    assert parse_ip(text) == reference_ip(text)
    assert parse_ip(text) == reference_ip(text)  # from the cache now
    assert parse_cidr(text) == reference_cidr(text)
    got = parse_cidr(text)
    want = reference_cidr(text)
    assert (None if got is None else (got.ip, got.network)) == (
        None if want is None else (want.ip, want.network))  # type: ignore[attr-defined]
    assert cidr_ip(text) == (None if want is None else want.ip)  # type: ignore[attr-defined]
    assert cidr_ip(text) == (None if want is None else want.ip)  # type: ignore[attr-defined]


def test_the_caches_hold_at_most_their_bound_and_answer_the_same_after_emptying() -> None:
    texts = [f"10.{i // 256 % 256}.{i % 256}.7/24" for i in range(2 * goparse._CACHED + 5)]
    first = [cidr_ip(text) for text in texts]
    assert all(len(cache) <= goparse._CACHED
               for cache in (goparse._IPS, goparse._CIDR_IPS, goparse._CIDRS))
    assert [cidr_ip(text) for text in texts] == first
    assert [parse_cidr(text) for text in texts] == [reference_cidr(text) for text in texts]
    assert first[3] == ipaddress.IPv4Address("10.0.3.7")


def test_known_forms() -> None:
    assert str(parse_ip("10.1.2.3")) == "10.1.2.3"
    assert parse_ip("010.1.2.3") is None  # Go refuses leading zeros too
    assert parse_ip("10.1.2.3/24") is None and parse_ip(7) is None
    parsed = parse_cidr("10.1.2.3/24")
    assert parsed is not None and str(parsed.network) == "10.1.2.0/24"
    assert str(parsed.ip) == "10.1.2.3"
    assert parse_cidr("10.1.2.3/33") is None and parse_cidr("10.1.2.3") is None
    v6 = parse_cidr("fd00::5/64")
    assert v6 is not None and v6.version == 6 and str(v6.network) == "fd00::/64"
