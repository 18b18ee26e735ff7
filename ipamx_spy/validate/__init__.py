"""Protocol validation: checks every exchange against the endpoint table and the session.

Use ``Validator`` live (``check(exchange)`` per completed exchange, ``on_close`` when a
docker-side connection closes) or ``check_recording`` offline. Each ``Finding`` has a stable
code from ``RULES``, a severity, the exchange number and one sentence saying what dockerd will
do about it and what the plugin author should change (``docs/validation.md``).
"""

from __future__ import annotations

from ipamx_spy.findings import Finding

from .rules import RULES, Rule
from .validator import FileReport, Validator, check_file, check_merged, check_recording, expand

__all__ = [
    "RULES", "FileReport", "Finding", "Rule", "Validator", "check_file", "check_merged",
    "check_recording", "expand",
]
