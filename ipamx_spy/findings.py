"""Validation findings: what the validator says about an exchange or a session."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    """How bad a finding is; the value is the word stored in recordings and printed."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """0 for the worst: ``--min-severity`` and the ``~sev`` filter keep ranks up to theirs."""
        return SEVERITIES.index(self)


SEVERITIES: tuple[Severity, ...] = tuple(Severity)


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One problem found in a recording.

    ``code`` is stable (``IPX101``-style), ``seq`` the exchange number (0 for session-wide),
    ``message`` one sentence saying what dockerd will do about it and what to change.
    """

    code: str
    severity: Severity
    seq: int
    message: str

    def __post_init__(self) -> None:
        try:  # a finding read back from JSON carries the word
            object.__setattr__(self, "severity", Severity(self.severity))
        except ValueError:
            words = ", ".join(SEVERITIES)
            raise ValueError(f"severity must be one of {words}, not {self.severity!r}") from None

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity.value, "seq": self.seq,
                "message": self.message}
