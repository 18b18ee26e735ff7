"""The validator's fast lane: exchanges that no per-exchange check can object to.

Most exchanges of a session are plain: a plugin answered ``200`` promptly, with a JSON object
whose keys are exactly the Go field names of the answer, of the Go types dockerd declares, its
required fields filled in and its error field empty. For those, every check of the framing
(1xx), of the fields (2xx, except the values below) and of the transport (4xx) is silent by
construction, so ``plain`` recognises them from the stored record without decoding the body
again (a stored JSON body whose bytes are its canonical layout has no trailing data and no
duplicate key, so its parsed value is what Go decodes) and without building a verdict.

Values that need a parser (an answer's CIDR) are judged here only for ``RequestPool`` and
``RequestAddress`` (the calls a session repeats); an answer of any other endpoint with such a
value, ``Plugin.Activate`` and everything unusual take the full path. The rules across
exchanges (``PluginHistory``) run on both lanes. ``tests/test_validate_plain.py`` checks that both
lanes find the same on every recording and on generated variations of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ipamx_spy.dockerd.endpoints import BY_NAME, Endpoint, Row, response_type
from ipamx_spy.dockerd.goparse import cidr_ip
from ipamx_spy.dockerd.gotypes import BOOL, STRING, STRMAP, GoSlice
from ipamx_spy.dockerd.versions import DockerVersion
from ipamx_spy.recording import Exchange
from ipamx_spy.records import AnsweredBy

JSON = Any

_JSON_TYPES = re.compile(
    r"^\s*application/(json|vnd\.docker\.plugins\.v[0-9.]+\+json)\s*(;.*)?$", re.IGNORECASE)
_CIDR_ANSWERS = {Endpoint.REQUEST_POOL: "Pool", Endpoint.REQUEST_ADDRESS: "Address"}
_PARSED_KINDS = ("cidr", "ip?", "scope")  # value types that need more than a type check
_BY_PLUGIN = AnsweredBy.PLUGIN  # bound once: an enum member read off its class costs ~150 ns


def json_content_type(value: str | None) -> bool:
    """A Content-Type that HTTP clients take for JSON (IPX403 is silent)."""
    return value is not None and _JSON_TYPES.match(value) is not None


# How a plain answer's value is checked against its field's Go type (``_simple`` types only).
_STR, _BOOL, _STRMAP, _STRLIST = range(4)
_KINDS = {STRING: _STR, BOOL: _BOOL, STRMAP: _STRMAP, GoSlice(STRING): _STRLIST}


@dataclass(frozen=True, slots=True)
class Shape:
    """What a plain answer of one endpoint looks like to one Docker major version."""

    row: Row
    types: dict[str, int]  # exact Go field name -> its kind (``_KINDS``)
    required: tuple[str, ...]
    cidr: str | None  # the field whose CIDR is parsed here (RequestPool, RequestAddress)
    error: str  # the error field (must be empty)


def _shape(name: str, major: int) -> Shape | None:
    row = BY_NAME.get(name)
    if row is None or row.endpoint is Endpoint.ACTIVATE:
        return None
    struct = response_type(row.endpoint, DockerVersion(major))
    kinds = {field: _KINDS.get(gotype) for field, gotype in struct.fields}
    cidr = _CIDR_ANSWERS.get(row.endpoint)
    if None in kinds.values() or any(spec.type.startswith(_PARSED_KINDS) and spec.name != cidr
                                     for spec in row.response):
        return None
    return Shape(row=row, types={k: v for k, v in kinds.items() if v is not None}, cidr=cidr,
                 error=row.error_field, required=tuple(f.name for f in row.response if f.required))


class Shapes(dict[str, Shape | None]):
    """The shapes of the endpoints for one Docker major version, made when first needed."""

    def __init__(self, major: int) -> None:
        super().__init__()
        self.major = major

    def __missing__(self, name: str) -> Shape | None:
        found = self[name] = _shape(name, self.major)
        return found


_CONTENT_TYPES: dict[str, bool] = {}


def _of_type(value: JSON, kind: int) -> bool:
    if value is None:
        return True  # null leaves a Go field at its zero value
    if kind == _STR:
        return type(value) is str
    if kind == _BOOL:
        return type(value) is bool
    if kind == _STRMAP:
        if type(value) is not dict:
            return False
        value = value.values()
    elif type(value) is not list:
        return False
    for item in value:
        if type(item) is not str:
            return False
    return True


def _content_type_ok(headers: tuple[tuple[str, str], ...]) -> bool:
    """The first Content-Type header is JSON (as ``Message.header`` finds it)."""
    for key, value in headers:
        if key == "Content-Type" or key.lower() == "content-type":
            known = _CONTENT_TYPES.get(value)
            if known is None:
                known = json_content_type(value)
                if len(_CONTENT_TYPES) < 256:
                    _CONTENT_TYPES[value] = known
            return known
    return False


def plain(exchange: Exchange, shapes: Shapes,
          slow_ms: float) -> tuple[Shape, dict[str, JSON]] | None:
    """The answer's shape and its decoded fields when the exchange is plain (see the module
    docstring), else None (the full path decides)."""
    response = exchange.response
    if (response is None or response.status != 200 or exchange.fault is not None
            or exchange.answered_by != _BY_PLUGIN or exchange.duration_ms >= slow_ms):
        return None
    found = shapes[exchange.endpoint]
    if found is None:
        return None
    body = response.body
    if body.get("encoding") != "json" or "text" in body:
        return None
    value = body.get("json")
    if type(value) is not dict:
        return None
    types = found.types
    for key, item in value.items():
        kind = types.get(key)
        if kind is None:
            return None
        if kind == _STR and (type(item) is str or item is None):
            continue  # the common case, inline
        if not _of_type(item, kind):
            return None
    if value.get(found.error):
        return None
    for name in found.required:
        if value.get(name) in (None, "", []):
            return None
    if found.cidr is not None and cidr_ip(value.get(found.cidr)) is None:
        return None
    if not _content_type_ok(response.headers):
        return None
    if found.row.takes_body and exchange.request.body.get("encoding") != "json":
        return None
    return found, value
