"""Scopes: a network driver's capability (``Scope``, ``ConnectivityScope``) and an address
space's kind are ``local`` (one host) or ``global`` (the swarm). dockerd compares the words
exactly (case matters), and the built-in allocator stores the same words in its state files.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from .gotypes import field_value


class Scope(StrEnum):
    """Local (one host) or global (swarm-wide); the value is the word on the wire and in state
    files."""

    LOCAL = "local"
    GLOBAL = "global"


SCOPES: tuple[Scope, ...] = tuple(Scope)


def capability_scope(value: object) -> Scope | None:
    """The scope a GetCapabilities answer names, as dockerd reads it: exactly ``local`` or
    ``global``; None for anything else (``Local``, ``""``, a number)."""
    return Scope(value) if isinstance(value, str) and value in SCOPES else None


def space_scope(space: str, global_space: str = "") -> Scope | None:
    """The scope of an address space named ``space``: by the plugin's own global space name
    when known (GetDefaultAddressSpaces), else by the word in the name (Docker's defaults are
    ``LocalDefault`` and ``GlobalDefault``); None when the name says neither."""
    if global_space:
        return Scope.GLOBAL if space == global_space else Scope.LOCAL
    lowered = space.lower()
    if Scope.GLOBAL in lowered:
        return Scope.GLOBAL
    if Scope.LOCAL in lowered:
        return Scope.LOCAL
    return None


def global_space_of(answer: object) -> str:
    """The global address space a GetDefaultAddressSpaces answer names, as dockerd reads it
    (Go's case-insensitive field match; a value that is not a string is a type error dockerd
    refuses the answer with); "" when it names none. The name ``space_scope`` should be given
    for every space of that plugin."""
    if not isinstance(answer, Mapping):
        return ""
    value = field_value(answer, "GlobalDefaultAddressSpace")
    return value if isinstance(value, str) else ""
