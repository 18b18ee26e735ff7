"""Replay recordings against a plugin as conformance tests (``ipamx-spy replay``).

``bindings`` (values the plugin chose), ``ledger`` (what the live plugin handed out),
``compare`` (protocol-aware verdicts), ``target`` (where requests go), ``engine`` (the loop),
``report`` (rich and JSON output), ``junit`` (JUnit XML). Import from the submodules; this
package imports nothing heavy on its own.
"""

from __future__ import annotations
