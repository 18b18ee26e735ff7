"""Go types of the plugin protocol's bodies, as dockerd declares them (``api.go`` files).

A ``GoStruct`` lists its fields in declaration order (the order dockerd encodes them in); a
field's type is a ``GoKind`` scalar, a nested ``GoStruct``, a ``GoSlice`` or a ``GoMap``.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar


class GoKind(enum.StrEnum):
    """Go's scalar types that occur in the protocol."""

    STRING = "string"
    BOOL = "bool"
    INT = "int"
    ANY = "interface {}"


@dataclass(frozen=True)
class GoStruct:
    """A Go struct type: ``name`` is qualified (``api.JoinResponse``)."""

    name: str
    fields: tuple[tuple[str, GoType], ...]

    @property
    def short(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    def field(self, key: str) -> tuple[str, GoType] | None:
        """The field Go's decoder stores ``key`` in: an exact match first, else the first
        case-insensitive one (``encoding/json`` folds key case); None for an unknown key."""
        name = self._names.name(key)
        return (name, self._types[name]) if name in self._types else None

    @functools.cached_property
    def _names(self) -> FieldNames:
        return FieldNames(name for name, _ in self.fields)

    @functools.cached_property
    def _types(self) -> dict[str, GoType]:
        return dict(self.fields)

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class GoSlice:
    elem: GoType

    def __str__(self) -> str:
        return f"[]{self.elem}"


@dataclass(frozen=True)
class GoMap:
    elem: GoType

    def __str__(self) -> str:
        return f"map[string]{self.elem}"


GoType = GoKind | GoStruct | GoSlice | GoMap


def go_field(names: Iterable[str], key: str) -> str | None:
    """The field among ``names`` (in declaration order) Go's decoder stores the JSON key
    ``key`` in: an exact match first, else the first one equal under case folding; None when
    no field matches. The one rule for matching keys to Go field names."""
    names = tuple(names)
    if key in names:
        return key
    folded = key.casefold()
    return next((name for name in names if name.casefold() == folded), None)


V = TypeVar("V")


class FieldNames:
    """JSON keys renamed to the Go field names of one struct (``go_field``'s rule), each key's
    answer kept (at most ``KEPT`` keys: a request may carry any key)."""

    KEPT = 256
    __slots__ = ("names", "_seen")

    def __init__(self, names: Iterable[str]) -> None:
        self.names = tuple(names)
        self._seen: dict[str, str] = {name: name for name in self.names}

    def name(self, key: str) -> str:
        """The field Go stores ``key`` in, or ``key`` itself when no field takes it."""
        seen = self._seen.get(key)
        if seen is not None:
            return seen
        name = go_field(self.names, key) or key
        if len(self._seen) < self.KEPT:
            self._seen[key] = name
        return name

    def rename(self, value: Mapping[str, V]) -> dict[str, V]:
        """``value`` with each key spelt as the field it reaches (unknown keys as they are;
        two keys reaching one field: the later one's value)."""
        seen = self._seen
        return {seen.get(key) or self.name(key): item for key, item in value.items()}


def field_value(value: Mapping[str, object], name: str) -> object:
    """What Go's decoder stores in a struct field ``name`` from the JSON object ``value``,
    when no other field of the struct is spelt like one of its keys: every key equal to
    ``name`` under case folding sets the field in turn (the last one wins) and a null leaves
    what an earlier key set; None when no key matches. The one case-insensitive lookup for
    callers that read a field without a ``GoStruct``."""
    folded = name.casefold()
    found: object = None
    for key, item in value.items():
        if item is not None and (key == name or key.casefold() == folded):
            found = item
    return found

STRING, BOOL, INT, ANY = GoKind.STRING, GoKind.BOOL, GoKind.INT, GoKind.ANY
STRMAP = GoMap(GoKind.STRING)
ANYMAP = GoMap(GoKind.ANY)
