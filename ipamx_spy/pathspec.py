"""One path language for a place in a JSON body: ``--redact``, ``--ignore``, ``~j`` filters.

A path is dotted keys into a body (``Options.RequestAddressType``). ``\\.`` is a literal dot
inside a key (``Options.com\\.docker\\.network\\.endpoint\\.macaddress``) and ``\\\\`` a
backslash; a decimal segment is a list index (``IPv4Data.0.Gateway``); ``*`` inside a segment
matches any characters of one key (``Options.*macaddress``) and a segment of ``*`` alone also
matches any list index; ``**`` matches any number of levels, none included (``**.Gateway``).
Keys match case-insensitively, as Go's JSON decoder does on the plugin side.

Redaction walks a body with a ``PathPattern`` (``patterns``); replay and mock ask whether a
pattern *covers* a concrete path, that is names it or one of its ancestors (``--ignore Data``
leaves ``Data`` and everything under it out). ``render`` and ``split`` turn a concrete path into
text and back, escaping dots inside keys, so a rendered path is itself a pattern naming exactly
that place.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

Path = tuple[str | int, ...]
ANY_LEVELS = "**"


class PathError(ValueError):
    """A path pattern that cannot be parsed; the message says why (callers add the option)."""


def split_text(text: str) -> tuple[str, ...]:
    """Split a dotted path into its segments, resolving ``\\.`` and ``\\\\``.

    Raises PathError for a stray backslash or an empty segment.
    """
    segments: list[str] = []
    current: list[str] = []
    chars = iter(text)
    for char in chars:
        if char == "\\":
            escaped = next(chars, "")
            if escaped not in {".", "\\"}:
                raise PathError(f"{text!r}: a backslash must escape '.' or '\\'")
            current.append(escaped)
        elif char == ".":
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
    segments.append("".join(current))
    if any(not s for s in segments):
        raise PathError(f"{text!r}: empty key in the path (two dots in a row?)")
    return tuple(segments)


def segment_pattern(segment: str) -> re.Pattern[str]:
    """The regex of one segment: ``*`` is any characters within one key, case-insensitive."""
    parts = (re.escape(p) for p in segment.split("*"))
    return re.compile(".*".join(parts), re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True)
class PathPattern:
    """A parsed path pattern; ``None`` in ``patterns`` stands for ``**``."""

    text: str
    segments: tuple[str, ...] = field(init=False)
    patterns: tuple[re.Pattern[str] | None, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        segments = split_text(self.text)
        object.__setattr__(self, "segments", segments)
        object.__setattr__(self, "patterns", tuple(
            None if s == ANY_LEVELS else segment_pattern(s) for s in segments))

    def covers(self, path: Path) -> bool:
        """True when the pattern names ``path`` or one of its ancestors."""
        return _covers(self.patterns, tuple(str(p) for p in path))

    def names(self, path: Path) -> bool:
        """True when the pattern names exactly ``path``."""
        return _names(self.patterns, tuple(str(p) for p in path))


def _covers(patterns: tuple[re.Pattern[str] | None, ...], path: tuple[str, ...]) -> bool:
    return any(_names(patterns, path[:k]) for k in range(len(path), -1, -1))


def _names(patterns: tuple[re.Pattern[str] | None, ...], path: tuple[str, ...]) -> bool:
    if not patterns:
        return not path
    head, rest = patterns[0], patterns[1:]
    if head is None:
        return any(_names(rest, path[k:]) for k in range(len(path) + 1))
    return bool(path) and head.fullmatch(path[0]) is not None and _names(rest, path[1:])


@functools.lru_cache(maxsize=1024)
def parse(text: str) -> PathPattern:
    """A pattern from its text (cached). Raises PathError when malformed."""
    return PathPattern(text)


def covers_any(path: Path, patterns: Iterable[str]) -> bool:
    """True when one of the pattern texts names ``path`` or an ancestor of it."""
    return any(parse(p).covers(path) for p in patterns)


def render(path: Path) -> str:
    """A concrete path as text, dots inside keys escaped; ``(body)`` for the whole body."""
    return ".".join(str(p).replace("\\", "\\\\").replace(".", "\\.") for p in path) or "(body)"


def split(text: str) -> Path:
    """A rendered path back into parts (decimal segments become list indices)."""
    if not text or text == "(body)":
        return ()
    return tuple(int(p) if p.isdigit() else p for p in split_text(text))
