"""Per-rule switches: validation rules a user turned off (``--ignore-rule IPX403``).

The validator always runs every rule (its session state needs every exchange); a ``RuleSwitches``
drops the findings of switched-off rules on their way out, live (``Switched`` wraps the live
checker) and offline (``keep``). A switch names one rule (``IPX403``) or a whole family by its
prefix (``IPX4``: every transport rule). ``[tool.ipamx-spy] ignore-rules`` in pyproject.toml
(``ipamx_spy.project``) gives the same switches to the pytest plugin and to ``check`` in CI.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .findings import Finding
from .recording import Exchange


class RuleSwitchError(ValueError):
    """A switch that names no rule; the message lists the known codes' families."""


def known_codes() -> tuple[str, ...]:
    from .validate.rules import RULES

    return tuple(RULES)


@dataclass(frozen=True)
class RuleSwitches:
    """The rules switched off: exact codes or code prefixes, upper-case."""

    off: tuple[str, ...] = ()

    @classmethod
    def parse(cls, texts: Iterable[str]) -> RuleSwitches:
        """Switches from ``--ignore-rule`` values (comma-separated lists allowed).

        Raises RuleSwitchError for a value that matches no rule code.
        """
        codes = known_codes()
        off: list[str] = []
        for text in texts:
            for part in (p.strip().upper() for p in text.split(",")):
                if not part:
                    continue
                if not any(code.startswith(part) for code in codes):
                    raise RuleSwitchError(
                        f"--ignore-rule {part!r}: no validation rule has that code "
                        f"(codes run {codes[0]}..{codes[-1]}; `ipamx-spy check --codes` "
                        "lists them)")
                off.append(part)
        return cls(tuple(dict.fromkeys(off)))

    def __bool__(self) -> bool:
        return bool(self.off)

    def allows(self, code: str) -> bool:
        return not any(code.upper().startswith(prefix) for prefix in self.off)

    def keep(self, findings: Iterable[Finding]) -> list[Finding]:
        """The findings of rules still switched on, in their order."""
        return [f for f in findings if self.allows(f.code)]

    def merged(self, other: RuleSwitches) -> RuleSwitches:
        return RuleSwitches(tuple(dict.fromkeys((*self.off, *other.off))))


class Switched:
    """A live checker (``ipamx_spy.live.Checker``) whose switched-off findings are dropped."""

    def __init__(self, checker: object, switches: RuleSwitches) -> None:
        self._checker = checker
        self._switches = switches

    def check(self, exchange: Exchange) -> list[Finding]:
        return self._switches.keep(self._checker.check(exchange))  # type: ignore[attr-defined]

    @property
    def last_plain(self) -> bool:
        """The wrapped checker's: its last exchange took the fast lane."""
        return bool(getattr(self._checker, "last_plain", False))

    @property
    def shapes(self) -> Any:
        """The wrapped checker's plain shapes (``validate.plain.Shapes``), if it has them."""
        return getattr(self._checker, "shapes", None)

    def on_close(self, conn: int, t: float, unanswered: Sequence[int] = (),
                 endpoint: str = "") -> list[Finding]:
        found = self._checker.on_close(conn, t, unanswered, endpoint)  # type: ignore[attr-defined]
        return self._switches.keep(found)
