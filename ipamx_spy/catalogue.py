"""Compatibility names for code not yet moved onto ``ipamx_spy.dockerd`` (the protocol
authority). New code imports ``ipamx_spy.dockerd``; this module goes away."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .dockerd import endpoints, goparse
from .dockerd.endpoints import ExtensionRow, Field, Row, endpoint_name
from .dockerd.explain import explain as _explain
from .dockerd.gojson import encode as _encode
from .dockerd.options import (
    ENDPOINT_NAME_OPTION,
    GATEWAY_LABEL,
    GATEWAY_OPTION,
    MAC_OPTION,
    SERIAL_OPTION,
)
from .dockerd.verdict import read_answer

JSON = Any
Endpoint = Row | ExtensionRow

ENDPOINTS: tuple[Endpoint, ...] = (*endpoints.ROWS, *endpoints.EXTENSIONS)
BY_NAME: dict[str, Endpoint] = {e.name: e for e in ENDPOINTS}

__all__ = ["BY_NAME", "ENDPOINTS", "ENDPOINT_NAME_OPTION", "Endpoint", "Field", "GATEWAY_LABEL",
           "GATEWAY_OPTION", "MAC_OPTION", "SERIAL_OPTION", "endpoint_name", "error_message",
           "explain", "is_cidr", "lookup"]


def lookup(target: str) -> Endpoint | None:
    """The row for a request target such as ``/IpamDriver.RequestPool`` (or None)."""
    return BY_NAME.get(endpoint_name(target))


def _body(value: JSON) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8")
    return _encode(value)


def error_message(endpoint: str, status: int, body: JSON) -> str | None:
    """The error dockerd sees in an answer (decoded JSON or raw text), or None on success."""
    verdict = read_answer(endpoint, status, None, _body(body))
    return verdict.error


def explain(endpoint: str, request: JSON, response: JSON | None = None, status: int = 200) -> str:
    """One sentence about an exchange (request, and the decoded answer if given)."""
    if response is None and status == 200:
        return _explain(endpoint, request)
    verdict = read_answer(endpoint, status, None, _body(response),
                          request=request if isinstance(request, Mapping) else None)
    return _explain(endpoint, request, verdict)


def is_cidr(value: object) -> bool:
    """True for strings such as ``10.1.2.3/24`` (host bits allowed, as Go's ParseCIDR)."""
    return goparse.parse_cidr(value) is not None
