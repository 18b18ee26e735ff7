"""How dockerd reads a plugin's answer (PROTOCOL.md 1.3), down to the text of its errors.

``read_answer(endpoint, status, body)`` gives an ``Answer``: the decoded value with keys renamed
to the Go field names (Go matches keys case-insensitively), and the error dockerd's plugin
client and remote shims would return, worded as dockerd words it:

- any status but 200 fails with ``<Interface>.<Method>: <Err or the raw body>`` (a 404 to
  Program/RevokeExternalConnectivity is success);
- a 200 body goes through ``json.Decoder``: ``EOF`` when empty, the scanner's syntax error,
  ``json: cannot unmarshal ... into Go struct field ...`` for a wrong type (the Go response
  types are tabled in ``RESPONSES``);
- then the in-body error field: ``remote: <Error>`` for IPAM, ``remote: <Err>`` for the network
  driver.

The validator uses the same table to say what dockerd will do with an answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ipamx_spy import catalogue

from .gojson import first_value_end, first_value_error

JSON = Any


@dataclass(frozen=True)
class GoStruct:
    """A Go struct type: ``name`` is qualified (``api.JoinResponse``)."""

    name: str
    fields: tuple[tuple[str, GoType], ...]

    @property
    def short(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class GoSlice:
    elem: GoType

    def __str__(self) -> str:
        return f"[]{self.elem}"


@dataclass(frozen=True)
class GoMap:
    elem: GoType

    def __str__(self) -> str:
        return f"map[string]{self.elem}"


GoType = str | GoStruct | GoSlice | GoMap  # str: "string", "bool", "int", "interface {}"

_IPAM_ERR = (("Error", "string"),)
_NET_ERR = (("Err", "string"),)
_STRMAP = GoMap("string")


def _ipam(name: str, *fields: tuple[str, GoType]) -> GoStruct:
    return GoStruct(f"api.{name}", _IPAM_ERR + fields)


def _net(name: str, *fields: tuple[str, GoType]) -> GoStruct:
    return GoStruct(f"api.{name}", _NET_ERR + fields)


_INTERFACE = GoStruct("api.EndpointInterface", (
    ("Address", "string"), ("AddressIPv6", "string"), ("MacAddress", "string")))
_IFNAME = GoStruct("api.InterfaceName", (
    ("SrcName", "string"), ("DstName", "string"), ("DstPrefix", "string")))
_ROUTE = GoStruct("api.StaticRoute", (
    ("Destination", "string"), ("RouteType", "int"), ("NextHop", "string")))

RESPONSES: dict[str, GoStruct] = {
    "Plugin.Activate": GoStruct("plugins.Manifest", (("Implements", GoSlice("string")),)),
    "IpamDriver.GetCapabilities": _ipam(
        "GetCapabilityResponse", ("RequiresMACAddress", "bool"),
        ("RequiresRequestReplay", "bool")),
    "IpamDriver.GetDefaultAddressSpaces": _ipam(
        "GetAddressSpacesResponse", ("LocalDefaultAddressSpace", "string"),
        ("GlobalDefaultAddressSpace", "string")),
    "IpamDriver.RequestPool": _ipam(
        "RequestPoolResponse", ("PoolID", "string"), ("Pool", "string"), ("Data", _STRMAP)),
    "IpamDriver.ReleasePool": _ipam("ReleasePoolResponse"),
    "IpamDriver.RequestAddress": _ipam(
        "RequestAddressResponse", ("Address", "string"), ("Data", _STRMAP)),
    "IpamDriver.ReleaseAddress": _ipam("ReleaseAddressResponse"),
    "NetworkDriver.GetCapabilities": _net(
        "GetCapabilityResponse", ("Scope", "string"), ("ConnectivityScope", "string"),
        ("GwAllocChecker", "bool")),
    "NetworkDriver.GwAllocCheck": _net(
        "GwAllocCheckResponse", ("SkipIPv4", "bool"), ("SkipIPv6", "bool")),
    "NetworkDriver.CreateNetwork": _net("CreateNetworkResponse"),
    "NetworkDriver.DeleteNetwork": _net("DeleteNetworkResponse"),
    "NetworkDriver.AllocateNetwork": _net("AllocateNetworkResponse", ("Options", _STRMAP)),
    "NetworkDriver.FreeNetwork": _net("FreeNetworkResponse"),
    "NetworkDriver.CreateEndpoint": _net("CreateEndpointResponse", ("Interface", _INTERFACE)),
    "NetworkDriver.EndpointOperInfo": _net(
        "EndpointInfoResponse", ("Value", GoMap("interface {}"))),
    "NetworkDriver.DeleteEndpoint": _net("DeleteEndpointResponse"),
    "NetworkDriver.Join": _net(
        "JoinResponse", ("InterfaceName", _IFNAME), ("Gateway", "string"),
        ("GatewayIPv6", "string"), ("StaticRoutes", GoSlice(_ROUTE)),
        ("DisableGatewayService", "bool")),
    "NetworkDriver.Leave": _net("LeaveResponse"),
    "NetworkDriver.ProgramExternalConnectivity": _net("ProgramExternalConnectivityResponse"),
    "NetworkDriver.RevokeExternalConnectivity": _net("RevokeExternalConnectivityResponse"),
    "NetworkDriver.DiscoverNew": _net("DiscoveryResponse"),
    "NetworkDriver.DiscoverDelete": _net("DiscoveryResponse"),
}

# Fields dockerd only knows from a version on (older daemons ignore the key).
SINCE: dict[tuple[str, str], int] = {("NetworkDriver.GetCapabilities", "GwAllocChecker"): 28}


def response_type(endpoint: str, major: int = 29) -> GoStruct | None:
    """The Go type dockerd (major version ``major``) decodes a 200 answer into."""
    struct = RESPONSES.get(endpoint)
    if struct is None:
        return None
    kept = tuple(f for f in struct.fields if SINCE.get((endpoint, f[0]), 0) <= major)
    return GoStruct(struct.name, kept)


# -- decoding -----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class TypeProblem:
    """A value Go cannot store in its field; ``message`` is Go's error text."""

    path: tuple[str, ...]
    message: str


@dataclass
class Decoded:
    """A JSON object renamed to Go field names, with what the renaming found."""

    value: dict[str, JSON]
    folded: list[str] = field(default_factory=list)  # keys matched only case-insensitively
    unknown: list[str] = field(default_factory=list)  # keys that match no field (ignored)
    problems: list[TypeProblem] = field(default_factory=list)


def json_kind(value: JSON) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _field_for(struct: GoStruct, key: str) -> tuple[str, GoType] | None:
    for name, gotype in struct.fields:
        if name == key:
            return name, gotype
    for name, gotype in struct.fields:
        if name.lower() == key.lower():
            return name, gotype
    return None


def _mismatch(value: JSON, gotype: GoType) -> str | None:
    """The JSON kind to report when ``value`` does not fit ``gotype`` (None when it fits)."""
    kind = json_kind(value)
    if value is None or gotype == "interface {}":
        return None
    expected = {"string": "string", "bool": "bool", "int": "number"}.get(str(gotype))
    if isinstance(gotype, GoStruct | GoMap):
        expected = "object"
    elif isinstance(gotype, GoSlice):
        expected = "array"
    if kind != expected:
        return kind
    if gotype == "int" and not isinstance(value, int):
        return f"number {value}"
    return None


class _Walker:
    def __init__(self, root: GoStruct) -> None:
        self.root = root
        self.result = Decoded(value={})

    def struct(self, value: Mapping[str, JSON], struct: GoStruct,
               path: tuple[str, ...]) -> dict[str, JSON]:
        out: dict[str, JSON] = {}
        for key, item in value.items():
            found = _field_for(struct, key)
            dotted = ".".join((*path, key))
            if found is None:
                self.result.unknown.append(dotted)
                out[key] = item
                continue
            name, gotype = found
            if name != key:
                self.result.folded.append(dotted)
            out[name] = self.check(item, gotype, struct, (*path, name))
        return out

    def check(self, value: JSON, gotype: GoType, owner: GoStruct,
              path: tuple[str, ...]) -> JSON:
        kind = _mismatch(value, gotype)
        if kind is not None:
            where = ".".join(path)
            self.result.problems.append(TypeProblem(path=path, message=(
                f"json: cannot unmarshal {kind} into Go struct field {owner.short}.{where} "
                f"of type {gotype}")))
            return value
        if isinstance(gotype, GoStruct) and isinstance(value, dict):
            return self.struct(value, gotype, path)
        if isinstance(gotype, GoSlice) and isinstance(value, list):
            return [self.check(v, gotype.elem, owner, path) for v in value]
        if isinstance(gotype, GoMap) and isinstance(value, dict):
            return {k: self.check(v, gotype.elem, owner, path) for k, v in value.items()}
        return value


def decode_object(value: Mapping[str, JSON], struct: GoStruct) -> Decoded:
    """Rename keys to Go field names and collect the type problems, as Go's decoder would."""
    walker = _Walker(struct)
    walker.result.value = walker.struct(value, struct, ())
    return walker.result


# -- answers ------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Answer:
    """What dockerd makes of one plugin answer, or of a call that got no answer."""

    status: int = 0
    value: dict[str, JSON] = field(default_factory=dict)
    error: str | None = None
    transport: str | None = None  # set when there was no answer (dial failure, hang-up)
    sent: bool = False  # with ``transport``: the request had been written before the failure

    @property
    def ok(self) -> bool:
        return self.error is None and self.transport is None

    @classmethod
    def unreachable(cls, message: str, *, sent: bool) -> Answer:
        return cls(error=message, transport=message, sent=sent)


def _text(body: bytes) -> str:
    return body.decode("utf-8", "replace")


def _err_field(body: bytes) -> str:
    """``json.Unmarshal(body, &struct{Err string})``: the Err text, or "" when unusable."""
    try:
        value = json.loads(_text(body))
    except ValueError:
        return ""
    if not isinstance(value, dict):
        return ""
    found = ""
    for key, item in value.items():
        if key.lower() == "err":
            if item is not None and not isinstance(item, str):
                return ""
            found = item or found
    return found


def failure_text(endpoint: str, status: int, body: bytes) -> str | None:
    """The error of a non-200 answer (``<endpoint>: <Err or raw body>``); None for a 200 or a
    tolerated 404."""
    if status == 200:
        return None
    row = catalogue.BY_NAME.get(endpoint)
    if status == 404 and row is not None and row.tolerates_404:
        return None
    return f"{endpoint}: {_err_field(body) or _text(body)}"


def decode_ok_body(endpoint: str, body: bytes, major: int = 29) -> tuple[Decoded, str | None]:
    """Decode a 200 body as dockerd does: the decoded value and Go's decode error (or None)."""
    text = _text(body)
    syntax = first_value_error(text)
    if syntax is not None:
        return Decoded(value={}), syntax
    value = json.JSONDecoder().raw_decode(text, len(text) - len(text.lstrip()))[0]
    struct = response_type(endpoint, major) or GoStruct("map[string]interface {}", ())
    if value is None:
        return Decoded(value={}), None
    if not isinstance(value, dict):
        return Decoded(value={}), (
            f"json: cannot unmarshal {json_kind(value)} into Go value of type {struct.name}")
    decoded = decode_object(value, struct)
    error = decoded.problems[0].message if decoded.problems else None
    return decoded, error


def trailing_data(body: bytes) -> str:
    """Bytes after the first JSON value of a well-formed 200 body (dockerd ignores them)."""
    text = _text(body)
    return text[first_value_end(text):].strip()


def read_answer(endpoint: str, status: int, body: bytes, *, major: int = 29) -> Answer:
    """dockerd's verdict on one answer. ``major`` is the daemon's major version (20, 27, 29)."""
    failure = failure_text(endpoint, status, body)
    if failure is not None:
        return Answer(status=status, error=failure)
    if status != 200:  # tolerated 404
        return Answer(status=status)
    decoded, error = decode_ok_body(endpoint, body, major)
    if error is not None:
        return Answer(status=status, error=error)
    row = catalogue.BY_NAME.get(endpoint)
    key = None if endpoint == "Plugin.Activate" else (row.error_field if row else "Err")
    remote = decoded.value.get(key) if key else None
    if remote:
        return Answer(status=status, value=decoded.value, error=f"remote: {remote}")
    return Answer(status=status, value=decoded.value)
