"""``recording.loads_line``, the readers' decoding of one line, is ``json.loads`` of the line:
the same value, or the same exception with the same message, on every line (whole records,
records cut short, trailing data, other encodings, bytes that are not UTF-8)."""

from __future__ import annotations

import json

from hypothesis import example, given, settings
from hypothesis import strategies as st

from ipamx_spy.recording import loads_line

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=12,
)
RECORDS = st.dictionaries(st.text(max_size=6), JSON_VALUES, min_size=1, max_size=5)


def _outcome(decode: object, line: bytes) -> tuple[str, str]:
    try:
        return "value", repr(decode(line))  # type: ignore[operator]
    except Exception as exc:  # noqa: BLE001 - the exception itself is what is compared
        return type(exc).__name__, str(exc)


def _same(line: bytes) -> None:
    assert _outcome(loads_line, line) == _outcome(json.loads, line)


@settings(max_examples=600, deadline=None)
@given(RECORDS, st.booleans(),
       st.sampled_from([b"\n", b"", b"\r\n", b" \n", b"\n\n", b"x\n", b"}\n", b",1\n",
                        b"\x00\n"]),
       st.integers(min_value=0, max_value=400), st.booleans())
@example({"type": "exchange"}, False, b"\n", 0, False)
def test_loads_line_is_json_loads(record: dict[str, object], ascii_only: bool, tail: bytes,
                                  cut: int, cut_it: bool) -> None:
    line = json.dumps(record, ensure_ascii=ascii_only, separators=(",", ":")).encode(
        "utf-8", "surrogatepass") + tail
    _same(line)
    if cut_it:
        _same(line[:cut % (len(line) + 1)])  # a torn line


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=40))
@example(b'{"a":"\\ud800"}\n')  # a lone surrogate escape: decoded as json.loads does
@example(b'{"a":"\xed\xa0\x80"}\n')  # a surrogate's own bytes (surrogatepass)
@example(b'{"a":"\xff"}\n')  # not UTF-8
@example(b'{"a":1}   \n')  # whitespace after the object
@example(b'\xef\xbb\xbf{"a":1}\n')  # a byte order mark
@example(b'{"\x00\x00\x00')  # bytes json.loads reads as UTF-32
@example(b'{"a":' + b"[" * 100_000 + b"\n")  # nested past the recursion limit
@example(b'{"a":NaN,"b":-Infinity}\n')
def test_loads_line_is_json_loads_on_any_bytes(line: bytes) -> None:
    _same(b'{"' + line)
    _same(line)
