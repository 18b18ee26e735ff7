"""The protocol authority: the one place where ipamx-spy knows how dockerd speaks to a plugin
and reads its answers. Standard library only (an import contract in pyproject checks it).

- ``endpoints``: the rows (``Endpoint`` enum, Go types, versions, sentences, failure effects);
- ``gojson``: Go's ``encoding/json`` as dockerd uses it (encoder and decoder);
- ``goparse``: ``net.ParseIP``, ``net.ParseCIDR``, ``net.ParseMAC``;
- ``verdict``: ``read_answer`` and ``read_no_answer``;
- ``explain``: one sentence about an exchange, from the rows and the verdict;
- ``versions``: Docker versions and version-dependent facts;
- ``options``: well-known option keys and labels.
"""

from __future__ import annotations

from .endpoints import (
    BY_NAME,
    EXTENSION_BY_NAME,
    EXTENSIONS,
    ROW,
    ROWS,
    Endpoint,
    ExtensionRow,
    FailureEffect,
    Field,
    Row,
    endpoint_name,
    parse_endpoint,
    row_for,
)
from .explain import explain
from .verdict import NoAnswer, Outcome, Verdict, read_answer, read_no_answer
from .versions import DEFAULT_VERSION, DockerVersion

__all__ = [
    "BY_NAME", "DEFAULT_VERSION", "EXTENSIONS", "EXTENSION_BY_NAME", "ROW", "ROWS",
    "DockerVersion", "Endpoint", "ExtensionRow", "FailureEffect", "Field", "NoAnswer",
    "Outcome", "Row", "Verdict", "endpoint_name", "explain", "parse_endpoint", "read_answer",
    "read_no_answer", "row_for",
]
