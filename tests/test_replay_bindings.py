"""Bindings: learning what the plugin chose, rewriting later requests, re-encoding bodies."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from ipamx_spy.recording import Message, encode_body
from ipamx_spy.replay.bindings import Bindings, request_bytes, rewrite_body


def test_learns_only_differing_string_leaves() -> None:
    bindings = Bindings()
    bindings.learn({"PoolID": "A/10.4.4.0/24", "Pool": "10.4.4.0/24", "Data": {"k": 1}},
                   {"PoolID": "B/10.4.4.0/24", "Pool": "10.4.4.0/24", "Data": {"k": 2}})
    assert bindings.mapping() == {"A/10.4.4.0/24": "B/10.4.4.0/24"}


def test_keys_are_matched_case_insensitively_when_learning() -> None:
    bindings = Bindings()
    bindings.learn({"PoolID": "old"}, {"poolid": "new"})
    assert bindings.translate({"PoolID": "old"}) == {"PoolID": "new"}


def test_cidr_answer_binds_the_plain_address_used_by_release() -> None:
    bindings = Bindings()
    bindings.learn({"Address": "10.4.4.2/24"}, {"Address": "10.4.4.7/24"})
    release = {"PoolID": "LocalDefault/10.4.4.0/24", "Address": "10.4.4.2"}
    assert bindings.translate(release)["Address"] == "10.4.4.7"
    assert bindings.translate_text("10.4.4.21") == "10.4.4.21"
    assert bindings.translate_text("110.4.4.2") == "110.4.4.2"


def test_address_space_name_is_rewritten_inside_a_pool_id() -> None:
    bindings = Bindings()
    bindings.learn({"LocalDefaultAddressSpace": "LocalDefault", "GlobalDefaultAddressSpace": "G"},
                   {"LocalDefaultAddressSpace": "blue", "GlobalDefaultAddressSpace": "G"})
    assert bindings.translate_text("LocalDefault/10.4.4.0/24") == "blue/10.4.4.0/24"
    assert bindings.translate_text("LocalDefaultX/10.4.4.0/24") == "LocalDefaultX/10.4.4.0/24"


def test_pool_id_parts_are_bound_when_only_the_id_was_seen() -> None:
    bindings = Bindings()
    bindings.learn({"PoolID": "LocalDefault/172.18.0.0/16"}, {"PoolID": "blue/172.19.0.0/16"})
    assert bindings.translate({"AddressSpace": "LocalDefault", "Pool": "172.18.0.0"}) == {
        "AddressSpace": "blue", "Pool": "172.19.0.0"}


def test_direct_binding_beats_a_derived_one_and_the_latest_wins() -> None:
    bindings = Bindings()
    bindings.bind("a/zone", "b/zone")
    bindings.bind("zone/x", "other/x")  # derived zone -> other
    bindings.bind("zone", "direct")
    assert bindings.translate_text("zone") == "direct"
    bindings.bind("zone", "again")
    assert bindings.translate_text("zone") == "again"


def test_a_value_seen_unchanged_again_stops_being_rewritten() -> None:
    bindings = Bindings()
    bindings.bind("10.4.4.2/24", "10.4.4.9/24")
    bindings.bind("10.4.4.2/24", "10.4.4.2/24")
    assert bindings.translate_text("10.4.4.2/24") == "10.4.4.2/24"


def test_short_values_are_rewritten_only_as_whole_strings() -> None:
    bindings = Bindings()
    bindings.bind("eth", "veth")
    assert bindings.translate_text("eth") == "veth"
    assert bindings.translate_text("eth0 via eth") == "eth0 via eth"


def test_translate_leaves_keys_and_other_types_alone() -> None:
    bindings = Bindings()
    bindings.bind("PoolID", "renamed")
    value = {"PoolID": ["PoolID", 1, True, None]}
    assert bindings.translate(value) == {"PoolID": ["renamed", 1, True, None]}


@given(st.ip_addresses(v=4), st.ip_addresses(v=4), st.ip_addresses(v=4))
def test_an_address_binding_never_touches_another_address(
        a: ipaddress.IPv4Address, b: ipaddress.IPv4Address, c: ipaddress.IPv4Address) -> None:
    bindings = Bindings()
    bindings.bind(f"{a}/24", f"{b}/24")
    expected = str(b) if c == a else str(c)
    assert bindings.translate_text(str(c)) == expected
    assert bindings.translate_text(f"{c}/24") == (f"{b}/24" if c == a else f"{c}/24")


def _request(raw: bytes, headers: tuple[tuple[str, str], ...] | None = None) -> Message:
    return Message(method="POST", target="/IpamDriver.ReleaseAddress",
                   headers=headers or (("Host", ""), ("Content-Length", str(len(raw)))),
                   body=encode_body(raw))


def test_unchanged_body_keeps_its_recorded_bytes() -> None:
    raw = b'{ "PoolID" :"p",   "Address":"10.4.4.2"}'  # no layout reproduces this
    rewritten = rewrite_body(_request(raw), Bindings())
    assert rewritten.body == raw and not rewritten.changed


def test_changed_body_is_re_encoded_in_its_recorded_layout() -> None:
    raw = b'{"PoolID": "p", "Address": "10.4.4.2"}\n'  # Python's spaced layout
    bindings = Bindings()
    bindings.bind("10.4.4.2/24", "10.4.4.3/24")
    rewritten = rewrite_body(_request(raw), bindings)
    assert rewritten.changed
    assert rewritten.body == b'{"PoolID": "p", "Address": "10.4.4.3"}\n'


def test_go_layout_escapes_html_characters_again() -> None:
    raw = b'{"PoolID":"a\\u003cb","Address":"10.4.4.2"}\n'
    bindings = Bindings()
    bindings.bind("10.4.4.2/24", "10.4.4.30/24")
    assert rewrite_body(_request(raw), bindings).body == (
        b'{"PoolID":"a\\u003cb","Address":"10.4.4.30"}\n')


def test_request_bytes_fixes_content_length_and_keeps_header_order() -> None:
    headers = (("Host", ""), ("User-Agent", "Go-http-client/1.1"), ("Content-Length", "2"),
               ("Accept", "x"))
    raw = request_bytes(_request(b"{}", headers), b'{"a":1}')
    assert raw == (b"POST /IpamDriver.ReleaseAddress HTTP/1.1\r\nHost: \r\n"
                   b"User-Agent: Go-http-client/1.1\r\nContent-Length: 7\r\nAccept: x\r\n\r\n"
                   b'{"a":1}')


def test_request_bytes_turns_chunked_framing_into_a_length() -> None:
    headers = (("Host", "h"), ("Transfer-Encoding", "chunked"))
    raw = request_bytes(_request(b"{}", headers), b"{}")
    assert raw.endswith(b"Host: h\r\nContent-Length: 2\r\n\r\n{}")


def test_an_empty_recorded_address_space_binds_to_the_targets_default() -> None:
    from ipamx_spy.replay.bindings import Bindings as SpaceBindings

    bindings = SpaceBindings()
    bindings.bind_space("", "LocalDefault")
    request = {"AddressSpace": "", "Pool": "", "SubPool": "", "Options": {}, "V6": False}
    assert bindings.translate(request) == {**request, "AddressSpace": "LocalDefault"}
