"""Go types of the plugin protocol's bodies, as dockerd declares them (``api.go`` files).

A ``GoStruct`` lists its fields in declaration order (the order dockerd encodes them in); a
field's type is a ``GoKind`` scalar, a nested ``GoStruct``, a ``GoSlice`` or a ``GoMap``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass


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
        for name, gotype in self.fields:
            if name == key:
                return name, gotype
        folded = key.casefold()
        for name, gotype in self.fields:
            if name.casefold() == folded:
                return name, gotype
        return None

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
