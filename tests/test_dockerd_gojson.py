"""Go's JSON as dockerd writes requests and as its decoder judges answers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipamx_spy.dockerd.gojson import Struct, encode, first_value_error
from ipamx_spy.emulator.core import call_answer


def test_structs_keep_declaration_order_and_maps_are_sorted() -> None:
    body = Struct(AddressSpace="probeLocal", Pool="10.222.0.0/24",
                  SubPool="10.222.0.128/25", Options={"zz": "1", "ik": "iv"}, V6=False)
    assert encode(body) == (b'{"AddressSpace":"probeLocal","Pool":"10.222.0.0/24",'
                            b'"SubPool":"10.222.0.128/25","Options":{"ik":"iv","zz":"1"},'
                            b'"V6":false}\n')


def test_null_empty_map_and_empty_list_differ() -> None:
    assert encode(Struct(a=None, b={}, c=[])) == b'{"a":null,"b":{},"c":[]}\n'


def test_html_and_control_characters_are_escaped_like_go_1_19() -> None:
    assert encode("<a&b>\u2028\u2029\x01\x08\x0c\n\t\r\"\\é") == (
        '"\\u003ca\\u0026b\\u003e\\u2028\\u2029\\u0001\\u0008\\u000c\\n\\t\\r\\"\\\\é"\n'
    ).encode()


@pytest.mark.parametrize(("value", "go"), [
    (1.5, b"1.5\n"), (3.0, b"3\n"), (1e-7, b"1e-7\n"), (1e21, b"1e+21\n"),
    (0.00001, b"0.00001\n"), (1e20, b"100000000000000000000\n"),
])
def test_floats_are_written_as_go_writes_float64(value: float, go: bytes) -> None:
    assert encode(value) == go


def test_nan_is_refused_as_go_refuses_it() -> None:
    with pytest.raises(TypeError):
        encode(float("nan"))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12)


@given(json_values)
def test_encoding_round_trips_and_stays_html_safe(value: Any) -> None:
    data = encode(value)
    assert data.endswith(b"\n") and data.count(b"\n") == 1
    assert not {ord("<"), ord(">"), ord("&")} & set(data)
    assert json.loads(data) == value
    assert first_value_error(data.decode()) is None


@pytest.mark.parametrize(("body", "error"), [
    ("", "EOF"),
    (" \n", "EOF"),
    ("not json", "invalid character 'o' in literal null (expecting 'u')"),  # real dockerd
    ("{", "unexpected EOF"),
    ('{"a" 1}', "invalid character '1' after object key"),
    ("{a:1}", "invalid character 'a' looking for beginning of object key string"),
    ('{"a":1,}', "invalid character '}' looking for beginning of object key string"),
    ("[1 2]", "invalid character '2' after array element"),
    ('{"a":1 "b":2}', "invalid character '\"' after object key:value pair"),
    ("-x", "invalid character 'x' in numeric literal"),
    ("1.e", "invalid character 'e' after decimal point in numeric literal"),
    ('"\\q"', "invalid character 'q' in string escape code"),
    ('"a\nb"', "invalid character '\\n' in string literal"),
    ("'x'", "invalid character '\\'' looking for beginning of value"),
    ('{} trailing', None),
])
def test_syntax_errors_read_like_go(body: str, error: str | None) -> None:
    assert first_value_error(body) == error


@given(st.binary(max_size=64))
def test_decoder_never_crashes(body: bytes) -> None:
    answer = call_answer("IpamDriver.RequestPool", 200, body)
    assert answer.ok or answer.error


def test_error_fields_are_the_err_and_error_gos_decoder_stores() -> None:
    from ipamx_spy.dockerd.gojson import error_fields

    assert error_fields(b'{"err":"a","ERROR":"b","Other":1}\n', whole=True) == \
        {"Err": "a", "Error": "b"}
    assert error_fields(b'{"Err":"a","err":"b"}', whole=True) == {"Err": "b"}  # the last wins
    assert error_fields(b'{"Err":"a","err":null}', whole=True) == {"Err": "a"}  # null keeps
    assert error_fields(b'{"Err":""}', whole=False) == {}
    assert error_fields(b'{"Err":5,"Error":"b"}', whole=False) == {"Error": "b"}
    assert error_fields(b'{"Err":"a"} junk', whole=False) == {"Err": "a"}
    assert error_fields(b'{"Err":"a"} junk', whole=True) == {}
    assert error_fields(b'["Err"]', whole=False) == error_fields(b"", whole=False) == {}


def test_field_value_is_the_value_gos_decoder_stores_in_the_field() -> None:
    from ipamx_spy.dockerd.gotypes import field_value

    assert field_value({"srcname": "a"}, "SrcName") == "a"
    assert field_value({"SrcName": "a", "SRCNAME": "b"}, "SrcName") == "b"
    assert field_value({"SrcName": "a", "srcName": None}, "SrcName") == "a"
    assert field_value({"Src": "a"}, "SrcName") is None
