"""Protocol validation: checks every exchange against the endpoint table and the session.

Use ``Validator`` live (``check(exchange)`` per completed exchange, ``on_close`` when a
docker-side connection closes) or ``check_recording`` offline. Each ``Finding`` has a stable
code from ``RULES``, a severity, the exchange number and one sentence saying what dockerd will
do about it and what the plugin author should change (``docs/validation.md``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ipamx_spy.findings import Finding

    from .rules import RULES, Rule
    from .validator import (
        FileReport,
        Validator,
        check_file,
        check_merged,
        check_recording,
        expand,
    )

_HOMES = {"Finding": "ipamx_spy.findings", "RULES": ".rules", "Rule": ".rules"}


def __getattr__(name: str) -> Any:
    """The validator is imported when first named, not with the package: a reader that needs
    only ``validate.plain`` (replay's fast lane) does not pay for the whole validator."""
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES.get(name, ".validator"), __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "RULES", "FileReport", "Finding", "Rule", "Validator", "check_file", "check_merged",
    "check_recording", "expand",
]
