"""JSON paths: how replay and mock name a place in a body, and a structural diff.

A path is a tuple of keys and list indices, rendered dotted (``Interface.MacAddress``,
``StaticRoutes.0.NextHop``). Patterns (``--ignore``, the endpoint rows' ``chosen`` paths) are
the one path language of ``ipamx_spy.pathspec`` (the one ``--redact`` uses): they match a path
when they name it or one of its ancestors; ``*`` matches within one key, ``**`` any levels.

The diff understands JSON, not bytes: key order never matters, and keys are matched
case-insensitively when the exact spelling is missing (Go's decoder does the same,
PROTOCOL.md 1.3).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ipamx_spy import pathspec
from ipamx_spy.dockerd.gotypes import FieldNames

JSON = Any
Path = tuple[str | int, ...]


class _Missing:
    """A key that is not there (as opposed to JSON ``null``)."""

    def __repr__(self) -> str:
        return "(absent)"


MISSING: Final = _Missing()


def render(path: Path) -> str:
    """A path as text in the one path language (``ipamx_spy.pathspec``)."""
    return pathspec.render(path)


def matches(path: Path, patterns: Iterable[str]) -> bool:
    """True when a pattern (``ipamx_spy.pathspec`` syntax) names ``path`` or an ancestor."""
    return pathspec.covers_any(path, patterns)


def align_keys(expected: Mapping[str, JSON], actual: Mapping[str, JSON]) -> dict[str, JSON]:
    """``actual`` with keys renamed to ``expected``'s spelling where Go's decoder would store
    them in that field (``gotypes.FieldNames``: they differ only in case)."""
    names = FieldNames(expected)
    out: dict[str, JSON] = {}
    for key, value in actual.items():
        canonical = names.name(key)
        if canonical in out and canonical != key:
            canonical = key  # both spellings present: keep them apart
        out[canonical] = value
    return out


def get(value: JSON, path: Path) -> JSON:
    """The value at ``path``, or MISSING."""
    for part in path:
        if isinstance(part, int) and isinstance(value, list) and 0 <= part < len(value):
            value = value[part]
        elif isinstance(part, str) and isinstance(value, Mapping) and part in value:
            value = value[part]
        else:
            return MISSING
    return value


def split(text: str) -> Path:
    """A rendered path back into parts (digits become list indices)."""
    return pathspec.split(text)


def is_zero(value: JSON) -> bool:
    """Absent, null, or the zero value of its type ("absent means zero" in Go's decoder)."""
    if value is MISSING or value is None:
        return True
    if isinstance(value, bool):
        return value is False
    if isinstance(value, int | float):
        return value == 0
    if isinstance(value, str | list | dict):
        return len(value) == 0
    return False


def zero_equal(expected: JSON, actual: JSON) -> bool:
    """Both zero, and of one type unless one is absent or null (``false`` is not ``""``)."""
    if not (is_zero(expected) and is_zero(actual)):
        return False
    nothing = (MISSING, None)
    return expected in nothing or actual in nothing or type(expected) is type(actual)


@dataclass(frozen=True, kw_only=True)
class Difference:
    """One place where two JSON values differ."""

    path: Path
    expected: JSON
    actual: JSON


Translate = Callable[[JSON], JSON]
Prune = Callable[[Path], bool]


def diff(expected: JSON, actual: JSON, *, translate: Translate = lambda v: v,
         zero_equal: bool = False, prune: Prune = lambda p: False,
         path: Path = ()) -> list[Difference]:
    """Every place where ``actual`` differs from ``translate(expected)``.

    ``zero_equal`` treats absent, null and zero values as equal; ``prune`` names paths that
    are not compared at all (ignored or checked elsewhere).
    """
    return list(_diff(expected, actual, translate, zero_equal, prune, path))


_zero_equal = zero_equal


def _diff(expected: JSON, actual: JSON, translate: Translate, zero_equal: bool,
          prune: Prune, path: Path) -> Iterator[Difference]:
    if path and prune(path):
        return
    if zero_equal and _zero_equal(expected, actual):
        return
    if isinstance(expected, Mapping) and isinstance(actual, Mapping):
        aligned = align_keys(expected, actual)
        for key in list(expected) + [k for k in aligned if k not in expected]:
            yield from _diff(expected.get(key, MISSING), aligned.get(key, MISSING),
                             translate, zero_equal, prune, (*path, key))
        return
    if (isinstance(expected, list) and isinstance(actual, list)
            and len(expected) == len(actual)):
        for index, (e, a) in enumerate(zip(expected, actual, strict=True)):
            yield from _diff(e, a, translate, zero_equal, prune, (*path, index))
        return
    wanted = expected if expected is MISSING else translate(expected)
    if not _same(wanted, actual):
        yield Difference(path=path, expected=wanted, actual=actual)


def _same(expected: JSON, actual: JSON) -> bool:
    """JSON equality that keeps bools, numbers and null apart (Python says True == 1)."""
    if type(expected) is not type(actual):
        both_numbers = all(isinstance(v, int | float) and not isinstance(v, bool)
                           for v in (expected, actual))
        return both_numbers and expected == actual
    if isinstance(expected, Mapping):
        aligned = align_keys(expected, actual)
        return expected.keys() == aligned.keys() and all(
            _same(expected[k], aligned[k]) for k in expected)
    if isinstance(expected, list):
        return len(expected) == len(actual) and all(
            _same(e, a) for e, a in zip(expected, actual, strict=True))
    return bool(expected == actual)


def normalise(value: JSON, like: JSON) -> JSON:
    """``value`` with its keys spelled as in ``like`` at every level (for display and rules)."""
    if isinstance(value, Mapping) and isinstance(like, Mapping):
        aligned = align_keys(like, value)
        return {k: normalise(v, like.get(k)) for k, v in aligned.items()}
    if isinstance(value, list) and isinstance(like, list):
        return [normalise(v, like[i] if i < len(like) else None) for i, v in enumerate(value)]
    return value
