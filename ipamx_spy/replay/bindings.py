"""Bindings: values the plugin chose in the recording, and what the live plugin chose instead.

Theory of operation
-------------------
A PoolID, a dynamic pool, an address the allocator picked or an interface name differ between
implementations and runs. Replay learns them from the data, not from a list of field names:
after every exchange it walks the recorded answer and the live answer side by side and binds
each string leaf that differs (recorded -> live). Later recorded requests are rewritten through
the bindings before they are sent, and later recorded answers before they are compared.

Derived forms are bound too. A value made of ``/``-separated parts binds each differing part
(``10.4.4.2/24`` -> ``10.4.4.7/24`` also binds ``10.4.4.2`` -> ``10.4.4.7``, which is how
ReleaseAddress sends it; ``LocalDefault/10.4.4.0/24`` -> ``blue/10.4.4.0/24`` binds the
address-space name). A string is rewritten when it *is* a bound value, or else where a bound
value stands in it as a whole token run (never ``10.4.4.2`` inside ``10.4.4.21``). Values bound
directly win over derived ones; a later binding of the same value replaces an earlier one, and a
value seen unchanged again stops being rewritten.

Mock mode uses the same class the other way round: it binds what dockerd sent against what the
recording holds, and rewrites the recorded answers.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from ipamx_spy.dockerd.gotypes import field_value
from ipamx_spy.recording import LAYOUTS, Message, made

JSON = Any
TOKEN = re.compile(r"[\w.:]+")
"""A run of characters that belongs to one value (IPv4/IPv6 addresses, names, numbers)."""
MIN_INNER = 4
"""Shorter values are rewritten only as whole strings (a prefix length ``24`` never is)."""


@dataclass
class Bindings:
    direct: dict[str, str] = field(default_factory=dict)
    derived: dict[str, str] = field(default_factory=dict)
    # Recorded address-space names (the empty one included) -> the target's, applied only to
    # ``AddressSpace`` keys: an empty recorded name must not rewrite every empty string.
    spaces: dict[str, str] = field(default_factory=dict)
    _by_first_token: dict[str, list[tuple[int, str]]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.mapping())

    def bind_space(self, recorded: str, live: str) -> None:
        """Bind an address-space name the recording's plugin gave (``""`` included)."""
        if recorded != live:
            self.spaces[recorded] = live

    def mapping(self) -> dict[str, str]:
        """Every binding that changes something (derived first, direct ones override)."""
        return {k: v for k, v in {**self.derived, **self.direct}.items() if k != v}

    def lookup(self, value: str) -> str | None:
        found = self.direct.get(value)
        return self.derived.get(value) if found is None else found

    # -- learning -------------------------------------------------------------------------

    def learn(self, recorded: JSON, live: JSON, *, exclude: Collection[str] = (),
              path: str = "") -> None:
        """Walk two JSON values side by side and bind every string leaf that differs.

        ``exclude`` names dotted paths not to learn from (values replay found wrong).
        """
        if recorded is live and not self.direct and not self.derived:
            return  # one value on both sides (replay's answer identical to the recording's)
        if path in exclude:
            return
        if isinstance(recorded, Mapping) and isinstance(live, Mapping):
            for key, value in recorded.items():
                where = f"{path}.{key}" if path else key
                # the live value Go's decoder would store in the recorded key's field
                found = live[key] if key in live else field_value(live, key)
                if found is not None:
                    self.learn(value, found, exclude=exclude, path=where)
        elif isinstance(recorded, list) and isinstance(live, list):
            for index, (r, v) in enumerate(zip(recorded, live, strict=False)):
                self.learn(r, v, exclude=exclude, path=f"{path}.{index}" if path else str(index))
        elif isinstance(recorded, str) and isinstance(live, str):
            self.bind(recorded, live)

    def bind(self, recorded: str, live: str) -> None:
        """Bind one value and its ``/``-separated parts."""
        if not recorded:
            return
        self._set(self.direct, recorded, live)
        parts, live_parts = recorded.split("/"), live.split("/")
        if len(parts) > 1 and len(parts) == len(live_parts):
            for part, live_part in zip(parts, live_parts, strict=True):
                if len(part) >= MIN_INNER and part not in self.direct:
                    self._set(self.derived, part, live_part)

    def _set(self, table: dict[str, str], recorded: str, live: str) -> None:
        if recorded == live and self.lookup(recorded) in (None, live):
            return  # nothing to rewrite, and nothing stale to override
        known = recorded in self.direct or recorded in self.derived
        table[recorded] = live
        first = TOKEN.match(recorded)
        if not known and first is not None and len(recorded) >= MIN_INNER:
            keys = self._by_first_token.setdefault(first.group(), [])
            bisect.insort(keys, (-len(recorded), recorded))

    # -- rewriting ------------------------------------------------------------------------

    def translate(self, value: JSON) -> JSON:
        """``value`` with every bound string rewritten (keys are left alone)."""
        if not self.direct and not self.derived and not self.spaces:
            return value
        return self._translate(value)

    def _translate(self, value: JSON) -> JSON:
        if isinstance(value, str):
            return self.translate_text(value)
        if isinstance(value, Mapping):
            return {k: self._space(v) if k == "AddressSpace" and v in self.spaces
                    else self._translate(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._translate(v) for v in value]
        return value

    def _space(self, value: str) -> str:
        return self.spaces[value]

    def translate_text(self, text: str) -> str:
        whole = self.lookup(text)
        if whole is not None:
            return whole
        if not self._by_first_token:
            return text
        out: list[str] = []
        done = 0
        for token in TOKEN.finditer(text):
            start = token.start()
            if start < done:
                continue
            replacement = self._inner_match(text, start, token.group())
            if replacement is not None:
                end, live = replacement
                out += [text[done:start], live]
                done = end
        return text if not out else "".join(out) + text[done:]

    def _inner_match(self, text: str, start: int, token: str) -> tuple[int, str] | None:
        for _negative_length, key in self._by_first_token.get(token, ()):
            end = start + len(key)
            if text.startswith(key, start) and (end == len(text)
                                                or TOKEN.match(text[end]) is None):
                live = self.lookup(key)
                if live is not None and live != key:
                    return end, live
        return None


def body_bytes(stored: dict[str, JSON], value: JSON) -> bytes:
    """A JSON body re-encoded in the layout it was recorded with (Go's layout if unknown)."""
    layout = LAYOUTS.get(str(stored.get("layout", "go")), LAYOUTS["go"])
    return layout(value).encode("utf-8")


@dataclass(frozen=True, kw_only=True)
class Rewritten:
    """A recorded message after bindings: its body value and exact bytes."""

    value: JSON
    body: bytes
    changed: bool


def rewrite_body(message: Message, bindings: Bindings) -> Rewritten:
    """The recorded body with bindings applied; the recorded bytes when nothing changed."""
    original = message.raw_body
    # set without the generated __init__ (``recording.made``): one per exchange replayed
    if message.body.get("encoding") != "json":
        return made(Rewritten, value=message.value, body=original, changed=False)
    value = message.value
    rewritten = bindings.translate(value)
    if rewritten is value or rewritten == value:  # no bindings: the value itself
        return made(Rewritten, value=value, body=original, changed=False)
    return Rewritten(value=rewritten, body=body_bytes(message.body, rewritten), changed=True)


def request_bytes(message: Message, body: bytes) -> bytes:
    """A recorded request re-assembled around ``body``, with Content-Length fixed.

    Headers keep their recorded order and spelling; a recorded chunked framing becomes a
    Content-Length (the body is stored de-chunked).
    """
    headers: list[tuple[str, str]] = []
    length_seen = False
    for name, value in message.headers:
        lowered = name.lower()
        if lowered == "transfer-encoding":
            continue
        if lowered == "content-length":
            if length_seen:
                continue
            value, length_seen = str(len(body)), True
        headers.append((name, value))
    if not length_seen:
        headers.append(("Content-Length", str(len(body))))
    start = f"{message.method} {message.target} HTTP/{message.http_version}\r\n"
    lines = "".join(f"{k}: {v}\r\n" for k, v in headers)
    return (start + lines + "\r\n").encode("latin-1") + body

