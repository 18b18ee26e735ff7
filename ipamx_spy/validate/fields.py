"""Checks of the fields of a 200 answer (codes 2xx) against the endpoint rows and Go's types.

Only answers dockerd decodes are looked at: a 200 whose body is a JSON object. Type problems
(IPX201) make dockerd fail the call, so values are judged only when the types are right, and
required values only when the answer is not an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ipamx_spy.dockerd.endpoints import AnswerCheck, Endpoint, Interface, parse_endpoint
from ipamx_spy.dockerd.goparse import cidr_code, parse_cidr, parse_ip, parse_mac
from ipamx_spy.dockerd.gotypes import go_field
from ipamx_spy.dockerd.scopes import capability_scope
from ipamx_spy.findings import Finding

from .context import CheckContext, Seen
from .rules import finding

JSON = Any
Check = Callable[[CheckContext], list[Finding]]

def _decodable(ctx: CheckContext) -> bool:
    return (ctx.answered and ctx.status == 200 and ctx.row is not None
            and not ctx.row.extension and bool(ctx.body.strip())
            and (ctx.decoded[1] is None or "Go struct field" in ctx.decoded[1]))


def _judged(ctx: CheckContext) -> bool:
    """Decodable, of the right types, and not an error answer."""
    return _decodable(ctx) and ctx.decoded[1] is None and ctx.plugin_error is None


def check_types(ctx: CheckContext) -> list[Finding]:
    """IPX201: values Go cannot store (dockerd fails the call)."""
    if not _decodable(ctx):
        return []
    return [finding("IPX201", ctx.seq, (
        f"{'.'.join(p.path)} has the wrong JSON type: dockerd fails the call with "
        f"{p.message!r}; {ctx.consequence()}; send the type the protocol defines"))
        for p in ctx.decoded[0].problems]


def check_keys(ctx: CheckContext) -> list[Finding]:
    """IPX213 / IPX214: keys Go folds or ignores."""
    if not _decodable(ctx) or ctx.row is None:
        return []
    endpoint = parse_endpoint(ctx.endpoint)
    other = endpoint.other_error_field if endpoint is not None else None
    ignored = () if other is None else (other,)  # the interface's other error field
    found = [finding("IPX213", ctx.seq, (
        f"key {key!r} only matches its field case-insensitively: dockerd accepts it (Go folds "
        "case), other clients may not; use the exact field name"))
        for key in ctx.decoded[0].folded]
    found += [finding("IPX214", ctx.seq, (
        f"key {key!r} is not a field of this answer and dockerd ignores it"))
        for key in ctx.decoded[0].unknown if go_field(ignored, key) is None]
    return found


def check_required(ctx: CheckContext) -> list[Finding]:
    """IPX202: required fields that are missing, null or empty."""
    if not _judged(ctx) or ctx.row is None or ctx.endpoint == Endpoint.ACTIVATE:
        return []
    found = []
    for spec in ctx.row.response:
        if spec.required and ctx.value.get(spec.name) in (None, "", []):
            consequence = spec.missing  # every required answer field says (the rows' test)
            found.append(finding("IPX202", ctx.seq, (
                f"{spec.name} is missing or empty: {consequence}; always send {spec.name}")))
    return found


def _cidr_finding(ctx: Seen, name: str, value: JSON, consequence: str) -> list[Finding]:
    code = cidr_code(value)
    if code is None:
        return []
    what = "has no prefix length" if code == "IPX203" else "is not a CIDR"
    return [finding(code, ctx.seq, (
        f"{name} {value!r} {what}: {consequence}; send it as address/prefix-length, "
        "e.g. '10.1.2.3/24'"))]


def _ip_finding(ctx: CheckContext, name: str, value: JSON, consequence: str) -> list[Finding]:
    if value in (None, "") or parse_ip(value) is not None:
        return []
    return [finding("IPX210", ctx.seq, (
        f"{name} {value!r} is not a plain IP address: {consequence}; send the address alone, "
        "without a prefix length"))]


def check_values(ctx: CheckContext) -> list[Finding]:
    """The rows' value types: ``cidr``, ``cidr?``, ``ip?``, ``scope``, ``scope?``."""
    if not _judged(ctx) or ctx.row is None:
        return []
    found: list[Finding] = []
    for spec in ctx.row.response:
        value = ctx.value.get(spec.name)
        kind = spec.type.split("|")[0]
        if value in (None, ""):
            continue
        if kind in {"cidr", "cidr?"}:
            found += _cidr_finding(ctx, spec.name, value,
                                   f"dockerd fails the call with 'invalid CIDR address: {value}'")
        elif kind == "ip?":
            found += _ip_finding(ctx, spec.name, value,
                                 f"dockerd fails the join with 'unable to parse {spec.name}'")
        elif kind in {"scope", "scope?"} and capability_scope(value) is None:
            found.append(finding("IPX205", ctx.seq, (
                f"{spec.name} {value!r} is neither 'local' nor 'global' (case matters): dockerd "
                "does not register the driver and network creation fails with 'could not "
                "resolve driver'; answer 'local' or 'global'")))
    return found


# -- endpoint-specific ----------------------------------------------------------------------


def _request_pool(ctx: Seen) -> list[Finding]:
    pool = parse_cidr(ctx.value.get("Pool"))
    found: list[Finding] = []
    asked = parse_cidr(ctx.request_map.get("Pool"))
    if pool is not None and asked is not None and pool.network != asked.network:
        found.append(finding("IPX209", ctx.seq, (
            f"dockerd asked for pool {asked.network} and got {pool.network}: dockerd uses the "
            "answer without checking it; reserve the pool that was asked for, or refuse")))
    wants_v6 = ctx.request_map.get("V6") is True
    if pool is not None and (pool.version == 6) != wants_v6:
        found.append(finding("IPX209", ctx.seq, (
            f"dockerd asked for an IPv{6 if wants_v6 else 4} pool (V6 "
            f"{str(wants_v6).lower()}) and got the IPv{pool.version} pool {pool.network}: "
            "dockerd files it under the wrong address family; answer a pool of the family "
            "asked for, or refuse")))
    data = ctx.value.get("Data") or {}
    gateway = data.get("com.docker.network.gateway") if isinstance(data, Mapping) else None
    if gateway is None:
        return found
    found += _cidr_finding(ctx, "Data gateway", gateway,
                           f"dockerd fails the network creation with 'invalid CIDR address: "
                           f"{gateway}'")
    parsed = parse_cidr(gateway)
    if parsed is not None and pool is not None and parsed.ip not in pool.network:
        found.append(finding("IPX206", ctx.seq, (
            f"the gateway {gateway} named in Data is outside the pool {pool.network}: dockerd "
            "uses it as the network gateway anyway; name an address inside the pool")))
    return found


def _request_address(ctx: Seen) -> list[Finding]:
    asked = parse_ip(ctx.request_map.get("Address"))
    if asked is None:
        return []
    got = parse_cidr(ctx.value.get("Address"))
    if got is None or got.ip == asked:
        return []
    return [finding("IPX207", ctx.seq, (
        f"dockerd asked for {asked} and got {got.ip}: dockerd silently uses {got.ip}; give "
        "the requested address or refuse with an error"))]


def _create_endpoint(ctx: CheckContext) -> list[Finding]:
    answered = ctx.value.get("Interface")
    if not isinstance(answered, dict):
        return []
    sent = ctx.request_map.get("Interface") or {}
    found: list[Finding] = []
    for name in ("Address", "AddressIPv6", "MacAddress"):
        value = answered.get(name)
        if not value:
            continue
        if isinstance(sent, dict) and sent.get(name):
            found.append(finding("IPX211", ctx.seq, (
                f"Interface.{name} {value!r} answers a field dockerd already set "
                f"({sent[name]!r}): dockerd fails with 'driver modified interface ...', "
                "deletes the endpoint and rolls back; fill in only fields sent empty")))
        elif name == "MacAddress" and parse_mac(value) is None:
            found.append(finding("IPX212", ctx.seq, (
                f"Interface.MacAddress {value!r} is not a MAC address Go can parse: dockerd "
                "fails the endpoint creation; send it as 'aa:bb:cc:dd:ee:ff'")))
        elif name != "MacAddress":
            found += _cidr_finding(ctx, f"Interface.{name}", value,
                                   "dockerd fails the endpoint creation")
    return found


def _join(ctx: CheckContext) -> list[Finding]:
    found: list[Finding] = []
    for route in ctx.value.get("StaticRoutes") or []:
        if not isinstance(route, dict):
            continue
        found += _cidr_finding(ctx, "StaticRoutes.Destination", route.get("Destination"),
                               "dockerd fails the join")
        if route.get("RouteType", 0) == 0:
            found += _ip_finding(ctx, "StaticRoutes.NextHop", route.get("NextHop"),
                                 "dockerd fails the join")
    return found


# The checks each endpoint row names (``Row.answer_checks``); total over ``AnswerCheck``
# (tests/test_dockerd_rows.py).
SPECIFIC: dict[AnswerCheck, Callable[[Seen], list[Finding]] | Check] = {
    AnswerCheck.POOL_AS_ASKED: _request_pool,
    AnswerCheck.ADDRESS_AS_ASKED: _request_address,
    AnswerCheck.INTERFACE_FILLED_IN: _create_endpoint,
    AnswerCheck.STATIC_ROUTES: _join,
}


def check_specific(ctx: CheckContext) -> list[Finding]:
    """The checks the endpoint's row names, on a judged answer (see ``_judged``)."""
    if ctx.row is None or not ctx.row.answer_checks or not _judged(ctx):
        return []
    return [f for check in ctx.row.answer_checks for f in SPECIFIC[check](ctx)]


def check_activate(ctx: CheckContext) -> list[Finding]:
    """IPX215: an Activate answer that gives dockerd nothing to use."""
    if ctx.endpoint != Endpoint.ACTIVATE or not _judged(ctx):
        return []
    implements = ctx.value.get("Implements") or []
    if {Interface.NETWORK, Interface.IPAM} & set(implements):
        return []
    return [finding("IPX215", ctx.seq, (
        f"Implements is {implements!r}: dockerd can use the plugin neither as a network "
        "driver nor as an allocator ('Plugin does not implement the requested driver'); "
        "list \"NetworkDriver\" and/or \"IpamDriver\""))]


CHECKS: tuple[Check, ...] = (
    check_types, check_keys, check_required, check_values, check_specific, check_activate,
)
