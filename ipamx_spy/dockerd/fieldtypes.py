"""The endpoint rows' field type vocabulary (``Field.type``), checked the way dockerd objects
to a value: Go's decoder for the JSON kind, then dockerd's own parse of the strings it reads
(``ParseCIDR``, ``ParseIP``, the scope). ``Field.problem`` asks here."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from .gojson import json_kind
from .goparse import parse_cidr, parse_ip
from .scopes import capability_scope

JSON = Any
Check = Callable[[JSON], bool]

# type -> (accepts, what the protocol wants in words, Go type for the decoder's message)
KINDS: dict[str, tuple[Check, str, str]] = {
    "str": (lambda v: isinstance(v, str), "a string", "string"),
    "bool": (lambda v: isinstance(v, bool), "a bool", "bool"),
    "int": (lambda v: isinstance(v, int) and not isinstance(v, bool), "a number", "int"),
    "strlist": (lambda v: isinstance(v, list) and all(isinstance(i, str) for i in v),
                "a list of strings", "[]string"),
    "strmap": (lambda v: isinstance(v, Mapping) and all(isinstance(i, str) for i in v.values()),
               "an object of strings", "map[string]string"),
    "object": (lambda v: isinstance(v, Mapping), "an object", "map[string]interface {}"),
    "list": (lambda v: isinstance(v, list), "a list", "[]interface {}"),
    "any": (lambda v: True, "anything", "interface {}"),
}
# string types whose content dockerd parses: type -> (accepts, words, dockerd's complaint)
TEXTS: dict[str, tuple[Check, str, str]] = {
    "cidr": (lambda v: parse_cidr(v) is not None, "a CIDR such as 10.1.2.3/24",
             "invalid CIDR address: {v}"),
    "cidr?": (lambda v: v == "" or parse_cidr(v) is not None, "a CIDR or \"\"",
              "invalid CIDR address: {v}"),
    "ip?": (lambda v: v == "" or parse_ip(v) is not None, "a plain IP address or \"\"",
            "unable to parse {v!r}"),
    "scope": (lambda v: capability_scope(v) is not None, "\"local\" or \"global\"",
              "invalid capability: expecting 'local' or 'global', got {v}"),
    "scope?": (lambda v: v == "" or capability_scope(v) is not None,
               "\"local\", \"global\" or \"\"",
               "invalid capability: expecting 'local' or 'global', got {v}"),
}


def known(type_: str) -> bool:
    """``type_`` is a word of the vocabulary (``tests/test_dockerd_rows.py`` checks every
    row's fields with it)."""
    base = type_.removesuffix("|null")
    return base in KINDS or base in TEXTS


_ZEROS: dict[str, Callable[[], JSON]] = {
    "bool": lambda: False, "int": lambda: 0, "strlist": list, "list": list, "strmap": dict,
    "object": dict, "any": lambda: None,
}


def zero(type_: str) -> JSON:
    """Go's zero value for a field of ``type_`` (what a missing key or null leaves)."""
    base = type_.removesuffix("|null")
    return "" if base in TEXTS or base == "str" else _ZEROS[base]()


def kind_problem(type_: str, value: JSON) -> str | None:
    """What the protocol has instead (``"a string"``, ``"a bool"``…) when the JSON kind of
    ``value`` is not the one Go stores in a field of ``type_`` (None: it is, or null)."""
    base = type_.removesuffix("|null")
    if value is None:
        return None
    if base in TEXTS:
        return None if isinstance(value, str) else "a string"
    accepts, words, _go = KINDS.get(base, KINDS["any"])
    return None if accepts(value) else words


def problem(name: str, type_: str, value: JSON) -> str | None:
    """Why dockerd would refuse ``value`` for a field ``name`` of type ``type_`` (or None).

    JSON null is accepted wherever Go accepts it: it leaves the field at its zero value.
    """
    base = type_.removesuffix("|null")
    if value is None:
        return None
    if base in TEXTS:
        accepts, words, complaint = TEXTS[base]
        if not isinstance(value, str):
            return _kind_problem(name, value, "a string", "string")
        if not value and not base.endswith("?"):
            return f"{name} is empty where the protocol needs {words}"
        if not accepts(value):
            return (f"{name} is {value!r}, not {words}: dockerd fails with "
                    f"'{complaint.format(v=value)}'")
        return None
    accepts, words, go_type = KINDS.get(base, KINDS["any"])
    return None if accepts(value) else _kind_problem(name, value, words, go_type)


def _kind_problem(name: str, value: JSON, words: str, go_type: str) -> str:
    kind = json_kind(value)
    article = "an" if kind[0] in "aeiou" else "a"
    return (f"{name} is {article} {kind} ({_short(value)}) where the protocol has {words}: "
            f"dockerd fails with 'json: cannot unmarshal {kind} into Go struct field "
            f".{name} of type {go_type}'")


def _short(value: JSON) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."
