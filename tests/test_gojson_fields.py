"""One Go JSON encoder (issue #12, G1): ``recording.go_json`` is ``dockerd.gojson.fields``.

The encoder it replaced (``json.dumps`` plus Go's HTML escapes) is kept here only as the
reference the old bytes came from: the new one must write the same bytes for every body the
project has recorded and for every protocol-shaped value without floats, and Go's bytes for
floats; the recording's ``go`` layouts must still reproduce every stored body."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipamx_spy import recording
from ipamx_spy.dockerd import gojson
from ipamx_spy.recording import decode_body, encode_body, go_json

ROOT = Path(__file__).resolve().parent.parent
FILES = sorted([*ROOT.glob("recordings/**/*.jsonl"), *ROOT.glob("tests/captures/**/*.jsonl"),
                *ROOT.glob("tests/golden/*.jsonl")])


def old_go_json(value: Any) -> str:
    """The encoder ``recording.go_json`` was before G1 (the reference for the old bytes)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def stored_bodies() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in FILES:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            stack = [record]
            while stack:
                item = stack.pop()
                if isinstance(item, dict):
                    if item.get("encoding") == "json" and "json" in item:
                        yield f"{path.relative_to(ROOT)}:{number}", item
                    else:
                        stack.extend(item.values())
                elif isinstance(item, list):
                    stack.extend(item)


def test_the_corpus_has_bodies() -> None:
    assert len(FILES) >= 20
    assert sum(1 for _ in stored_bodies()) > 500


def test_old_and_new_encoders_agree_on_every_recorded_body() -> None:
    differ = [where for where, body in stored_bodies()
              if go_json(body["json"]) != old_go_json(body["json"])]
    assert differ == []


def test_every_stored_body_keeps_its_bytes_and_is_stored_again_identically() -> None:
    for where, body in stored_bodies():
        raw = decode_body(body)
        if "text" not in body:
            assert raw == LAYOUT_OLD[body.get("layout", "go")](body["json"]).encode(), where
        assert encode_body(raw) == body, where


LAYOUT_OLD = {**recording.LAYOUTS, "go": lambda v: old_go_json(v) + "\n",
              "go-no-newline": old_go_json}

_text = st.text(st.characters(exclude_characters="\x08\x0c", exclude_categories=("Cs",)),
                max_size=12)
_scalar = st.none() | st.booleans() | st.integers(-2**70, 2**70) | _text \
    | st.sampled_from(["10.0.0.0/24", "<none>", "a&b", "\u2028", "fe80::1/64", "é", "\x01"])
protocol_values = st.recursive(
    _scalar, lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(["Pool", "PoolID", "Address", "Data", "Options", "Err",
                                       "Interface", "MacAddress", "gw<&>"]) | _text,
                      inner, max_size=5), max_leaves=20)


@given(protocol_values)
def test_old_and_new_agree_on_protocol_shaped_values_without_floats(value: Any) -> None:
    assert go_json(value) == old_go_json(value)
    assert go_json(value) == gojson._encode(value, ordered=True)


@given(st.recursive(st.floats(allow_nan=False, allow_infinity=False) | _scalar
                    | st.text(max_size=4).map(lambda t: t + "\x08\x0c"),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(_text, inner, max_size=3), max_leaves=10))
def test_the_fast_path_is_the_slow_path_everywhere(value: Any) -> None:
    assert go_json(value) == gojson._encode(value, ordered=True)


@pytest.mark.parametrize(("value", "go"), [
    ({"V": 1.0}, '{"V":1}'), ({"V": 1e-7}, '{"V":1e-7}'), ({"V": 1e21}, '{"V":1e+21}'),
    ({"V": 1e16}, '{"V":10000000000000000}'),
    ({"V": [0.5, 2]}, '{"V":[0.5,2]}'), ({"b": 1, "a": "\x08"}, '{"b":1,"a":"\\u0008"}'),
])
def test_floats_and_backspace_follow_go_and_dicts_keep_their_order(value: Any, go: str) -> None:
    assert go_json(value) == go


def test_a_body_python_wrote_with_a_float_is_still_stored_exactly() -> None:
    raw = b'{"Pool":"10.0.0.0/24","Weight":1.0}\n'
    stored = encode_body(raw)
    assert stored["layout"] == "go"
    assert decode_body(stored) == raw
    go = (go_json(json.loads(raw)) + "\n").encode()
    assert go == b'{"Pool":"10.0.0.0/24","Weight":1}\n'
    assert decode_body(encode_body(go)) == go


def test_nan_is_refused_as_go_refuses_it() -> None:
    with pytest.raises(TypeError, match="unsupported value"):
        go_json({"V": float("nan")})
