"""Link names, ownership marks and MACs of the reference network driver."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipamx_spy.netdriver.naming import (
    LINK_NAME_MAX,
    ROLES,
    Naming,
    fragments,
    generated_mac,
    normal_mac,
    parse_marker,
)

HEX_ID = st.text("0123456789abcdef", min_size=64, max_size=64)
PLUGIN = st.text(min_size=1, max_size=40).filter(lambda s: "\x00" not in s)


@given(plugin=PLUGIN, object_id=st.one_of(HEX_ID, st.text(min_size=1)),
       role=st.sampled_from(sorted(ROLES)))
def test_every_name_fits_linux_and_is_recognised(plugin: str, object_id: str, role: str) -> None:
    naming = Naming.for_plugin(plugin)
    name = naming.link_name(role, next(fragments(object_id)))
    assert len(name) == LINK_NAME_MAX and name.isascii()
    assert naming.owns(name, naming.marker(role, object_id))
    assert naming.owns(name, "")  # killed before the alias was set: the name pattern decides
    assert parse_marker(naming.marker(role, object_id)) == (role, object_id, plugin)


def test_the_tag_depends_on_the_plugin_name_only() -> None:
    assert Naming.for_plugin("ipamx") == Naming.for_plugin("ipamx")
    assert Naming.for_plugin("ipamx").tag != Naming.for_plugin("ipamy").tag
    assert Naming.for_plugin("ipamx").tag.startswith("ix")


def test_links_of_other_plugins_and_other_programs_are_not_ours() -> None:
    ours, theirs = Naming.for_plugin("a"), Naming.for_plugin("b")
    name = ours.link_name("bridge", "01234567")
    assert not ours.owns(name, theirs.marker("bridge", "x"))
    assert not ours.owns(name, "uplink to the lab")
    assert not ours.owns("docker0", "")
    assert not ours.owns(ours.tag + "b0123456", "")  # a fragment too short
    assert not ours.owns(theirs.link_name("bridge", "01234567"), "")


def test_hex_ids_give_readable_fragments_others_are_hashed() -> None:
    ident = "39f13c07" + "ab" * 28
    assert list(fragments(ident))[:2] == ["39f13c07", "abababab"]
    assert len(list(fragments(ident))) == 8
    assert all(len(f) == 8 for f in fragments("n1"))
    assert next(fragments("n1")) != "n1"


def test_fragment_for_skips_names_already_taken() -> None:
    naming = Naming.for_plugin("ipamx")
    ident = "39f13c07" + "ab" * 28
    taken = {naming.link_name("container", "39f13c07")}
    assert naming.fragment_for(ident, ("host", "container"), taken) == "abababab"
    every = {naming.link_name("host", f) for f in fragments(ident)}
    with pytest.raises(ValueError, match="no free link name"):
        naming.fragment_for(ident, ("host",), every)


def test_a_tag_too_long_for_linux_is_refused() -> None:
    with pytest.raises(ValueError, match="too long"):
        Naming(plugin="p", tag="ipamxspy")


@given(st.text(min_size=1))
def test_generated_macs_are_stable_local_unicast(endpoint_id: str) -> None:
    mac = generated_mac(endpoint_id)
    first = int(mac[:2], 16)
    assert first & 0x02 and not first & 0x01
    assert normal_mac(mac) == mac == generated_mac(endpoint_id)


@pytest.mark.parametrize(("text", "normal"), [
    ("02:42:0A:04:04:15", "02:42:0a:04:04:15"), ("7a-1f-3c-00-12-9e", "7a:1f:3c:00:12:9e"),
    ("0242.0a04.0415", "02:42:0a:04:04:15")])
def test_normal_mac(text: str, normal: str) -> None:
    assert normal_mac(text) == normal


@pytest.mark.parametrize("text", ["", "02:42:0a:04:04", "0242.0a04", "02:42:0a:04:04:1g",
                                  "02:42:0a:04:04:15:00:01", " 02:42:0a:04:04:15"])
def test_normal_mac_refuses_what_is_not_six_octets(text: str) -> None:
    with pytest.raises(ValueError, match="6-byte Ethernet address"):
        normal_mac(text)
