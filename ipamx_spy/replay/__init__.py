"""Replay recordings against a plugin as conformance tests (``ipamx-spy replay``).

``bindings`` (values the plugin chose), ``compare`` (protocol-aware verdicts), ``target``
(where requests go), ``engine`` (the loop), ``report`` (rich and JSON output), ``junit``
(JUnit XML). Import from the submodules; this package imports nothing heavy on its own.
What the live plugin handed out is kept in the protocol authority's ledger
(``ipamx_spy.dockerd.ledger``), the one the validator uses.
"""

from __future__ import annotations
