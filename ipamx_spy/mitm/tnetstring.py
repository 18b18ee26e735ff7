"""Typed netstrings, the container of mitmproxy's flow files (``mitmproxy/io/tnetstring.py``).

A value is ``LENGTH:DATA`` followed by one tag byte: ``,`` bytes, ``;`` UTF-8 text (mitmproxy's
addition to the format), ``#`` integer, ``^`` float, ``!`` boolean, ``~`` null, ``]`` list,
``}`` dictionary (keys and values alternate inside). A flow file is such dictionaries back to
back, one per flow. Standard library only: the mitmproxy addon imports this module too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

Value = None | bool | int | float | bytes | str | Sequence["Value"] | Mapping[str, "Value"]


class TNetStringError(ValueError):
    """Bytes that are not a typed netstring; the message says where and why."""


def _frame(data: bytes, tag: bytes) -> bytes:
    return b"%d:%s%s" % (len(data), data, tag)


def dumps(value: Value) -> bytes:
    """One value as a typed netstring. Raises TypeError for anything else than ``Value``."""
    if value is None:
        return b"0:~"
    if isinstance(value, bool):
        return _frame(b"true" if value else b"false", b"!")
    if isinstance(value, int):
        return _frame(str(value).encode("ascii"), b"#")
    if isinstance(value, float):
        return _frame(repr(value).encode("ascii"), b"^")
    if isinstance(value, bytes):
        return _frame(value, b",")
    if isinstance(value, str):
        return _frame(value.encode("utf-8", "surrogateescape"), b";")
    if isinstance(value, Mapping):
        parts = [dumps(k) + dumps(v) for k, v in value.items()]
        return _frame(b"".join(parts), b"}")
    if isinstance(value, Sequence):
        return _frame(b"".join(dumps(item) for item in value), b"]")
    raise TypeError(f"a typed netstring cannot hold {type(value).__name__}")


def _scalar(tag: int, data: bytes, where: int) -> Value:
    try:
        if tag == ord(","):
            return data
        if tag == ord(";"):
            return data.decode("utf-8", "surrogateescape")
        if tag == ord("#"):
            return int(data)
        if tag == ord("^"):
            return float(data)
    except ValueError:
        raise TNetStringError(f"offset {where}: bad {chr(tag)!r} value {data[:40]!r}") from None
    if tag == ord("!") and data in (b"true", b"false"):
        return data == b"true"
    if tag == ord("~") and not data:
        return None
    raise TNetStringError(f"offset {where}: unknown tag {chr(tag)!r} or bad value {data[:40]!r}")


def _pop(data: bytes, start: int, end: int) -> tuple[Value, int]:
    """The value that starts at ``start`` (within ``data[:end]``) and where the next one starts."""
    colon = data.find(b":", start, min(end, start + 13))
    if colon < 0 or not data[start:colon].isdigit():
        raise TNetStringError(f"offset {start}: no length prefix")
    body = colon + 1
    tag_at = body + int(data[start:colon])
    if tag_at >= end:
        raise TNetStringError(f"offset {start}: the value runs past the end of its container")
    tag = data[tag_at]
    if tag == ord("]"):
        items: list[Value] = []
        at = body
        while at < tag_at:
            item, at = _pop(data, at, tag_at)
            items.append(item)
        return items, tag_at + 1
    if tag == ord("}"):
        mapping: dict[str, Value] = {}
        at = body
        while at < tag_at:
            key, at = _pop(data, at, tag_at)
            if not isinstance(key, str | bytes) or at >= tag_at:
                raise TNetStringError(f"offset {at}: a dictionary key without a text value")
            value, at = _pop(data, at, tag_at)
            mapping[key if isinstance(key, str) else key.decode("utf-8", "surrogateescape")] = value
        return mapping, tag_at + 1
    return _scalar(tag, data[body:tag_at], start), tag_at + 1


def loads_all(data: bytes) -> list[Value]:
    """Every value of a file of back-to-back typed netstrings (a mitmproxy flow file).

    Raises TNetStringError when the bytes are not such a file (a torn last value included).
    """
    values: list[Value] = []
    at = 0
    while at < len(data):
        value, at = _pop(data, at, len(data))
        values.append(value)
    return values
