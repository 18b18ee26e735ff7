"""Go's key matching written once (issue #12, G7): ``gotypes.go_field`` / ``FieldNames`` rename
keys to Go field names and ``field_value`` reads a field; the built-in plugin, the built-in
network driver and replay use them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipamx_spy import app
from ipamx_spy.dockerd import ROW, Endpoint
from ipamx_spy.dockerd.gotypes import STRING, FieldNames, GoStruct, go_field
from ipamx_spy.replay import paths
from ipamx_spy.replay.bindings import Bindings

NAMES = ("Pool", "PoolID", "SubPool")


@pytest.mark.parametrize(("key", "field"), [
    ("Pool", "Pool"), ("pool", "Pool"), ("POOLID", "PoolID"), ("subpool", "SubPool"),
    ("Options", None), ("poo", None),
])
def test_go_field_is_exact_first_then_folded(key: str, field: str | None) -> None:
    assert go_field(NAMES, key) == field
    assert FieldNames(NAMES).name(key) == (field or key)


def test_an_exact_match_wins_over_an_earlier_folded_one() -> None:
    assert go_field(("ID", "Id"), "Id") == "Id"
    assert go_field(("ID", "Id"), "id") == "ID"
    assert GoStruct("s", (("ID", STRING), ("Id", STRING))).field("Id") == ("Id", STRING)


@given(st.dictionaries(st.sampled_from(["pool", "POOL", "Pool", "poolid", "x", "SUBPOOL"]),
                       st.integers(), max_size=6))
def test_rename_keeps_values_and_spells_known_keys_as_fields(value: dict[str, int]) -> None:
    renamed = FieldNames(NAMES).rename(value)
    assert set(renamed) == {go_field(NAMES, k) or k for k in value}
    last = {}
    for key, item in value.items():
        last[go_field(NAMES, key) or key] = item
    assert renamed == last


def test_the_kept_answers_are_bounded() -> None:
    names = FieldNames(NAMES)
    for index in range(FieldNames.KEPT * 2):
        assert names.name(f"k{index}") == f"k{index}"
    assert len(names._seen) <= FieldNames.KEPT
    assert names.name("POOL") == "Pool"


def test_the_builtin_plugin_and_replay_rename_with_the_same_rule() -> None:
    fields = ROW[Endpoint.REQUEST_POOL].request
    body = {"addressspace": "LocalDefault", "POOL": "10.0.0.0/24", "Unknown": 1}
    renamed = app.normalise_keys(body, fields)
    assert renamed == {"AddressSpace": "LocalDefault", "Pool": "10.0.0.0/24", "Unknown": 1}
    assert paths.align_keys({"AddressSpace": "", "Pool": ""}, body) == {
        "AddressSpace": "LocalDefault", "Pool": "10.0.0.0/24", "Unknown": 1}


def test_bindings_learn_the_live_value_of_a_folded_key() -> None:
    bindings = Bindings()
    bindings.learn({"PoolID": "recorded-pool"}, {"poolid": "live-pool"})
    assert bindings.direct.get("recorded-pool") == "live-pool"
