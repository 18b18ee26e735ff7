"""Validation findings: what the validator says about an exchange or a session."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SEVERITIES = ("error", "warning", "info")


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One problem found in a recording.

    ``code`` is stable (``IPX101``-style), ``seq`` the exchange number (0 for session-wide),
    ``message`` one sentence saying what dockerd will do about it and what to change.
    """

    code: str
    severity: str
    seq: int
    message: str

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {self.severity!r}")

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "severity": self.severity, "seq": self.seq,
                "message": self.message}
