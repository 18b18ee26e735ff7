"""The protocol authority: the one place where ipamx-spy knows how dockerd speaks to a plugin
and reads its answers. Standard library only (an import contract in pyproject checks it).

- ``endpoints``: the rows (``Endpoint`` enum, Go types, versions, sentences, failure effects);
- ``gojson``: Go's ``encoding/json`` as dockerd uses it (encoder and decoder);
- ``goparse``: ``net.ParseIP``, ``net.ParseCIDR``, ``net.ParseMAC``;
- ``verdict``: ``read_answer`` and ``read_no_answer``;
- ``explain``: one sentence about an exchange, from the rows and the verdict;
- ``ledger``: the pools and addresses a plugin handed out (validator, replay), and
  ``AddressRoles``: what each released address is to dockerd (``AddressRole``);
- ``scopes``: ``Scope`` (local, global), for capabilities and address spaces;
- ``versions``: Docker versions and version-dependent facts;
- ``options``: well-known option keys and labels.
"""

from __future__ import annotations

from .endpoints import (
    ALL_ROWS,
    ANY_BY_NAME,
    BY_NAME,
    EXTENSION_BY_NAME,
    EXTENSIONS,
    ROW,
    ROWS,
    SPY_ROW,
    AddressRole,
    AnswerCheck,
    AnyRow,
    Endpoint,
    ExtensionRow,
    FailureEffect,
    Field,
    Interface,
    LedgerEffect,
    RoleWords,
    Row,
    SpyCall,
    endpoint_name,
    lookup,
    parse_endpoint,
    parse_spy_call,
    row_for,
)
from .explain import describe, explain
from .options import (
    ENDPOINT_NAME_OPTION,
    GATEWAY_LABEL,
    GATEWAY_OPTION,
    MAC_OPTION,
    SERIAL_OPTION,
)
from .scopes import Scope
from .verdict import NoAnswer, Outcome, Verdict, error_message, read_answer, read_no_answer
from .versions import DEFAULT_VERSION, DockerVersion

__all__ = [
    "ALL_ROWS", "ANY_BY_NAME", "BY_NAME", "DEFAULT_VERSION", "ENDPOINT_NAME_OPTION",
    "EXTENSIONS", "EXTENSION_BY_NAME", "GATEWAY_LABEL", "GATEWAY_OPTION", "MAC_OPTION", "ROW",
    "ROWS", "SERIAL_OPTION", "SPY_ROW", "AddressRole", "AnswerCheck", "AnyRow", "DockerVersion",
    "Endpoint", "ExtensionRow", "FailureEffect", "Field", "Interface", "LedgerEffect",
    "NoAnswer", "Outcome", "RoleWords", "Row", "Scope", "SpyCall", "Verdict", "describe",
    "endpoint_name", "error_message", "explain", "lookup", "parse_endpoint", "parse_spy_call",
    "read_answer", "read_no_answer", "row_for",
]
