"""Validity rules for answer values the plugin chooses (the endpoint rows' ``validity``).

A row's ``chosen`` says which answer paths the plugin is free to pick for a request (a dynamic
pool, a PoolID, an address); its ``validity`` maps each such path to one rule saying whether
the picked value is one dockerd can live with. Replay (``replay/compare.py``) applies them; a
row whose ``chosen`` names a path without a rule fails ``tests/test_dockerd_rows.py``.

A rule is ``rule(request, value, answer, ledger) -> str | None``: ``value`` is the chosen value
(None when absent), ``answer`` the whole decoded answer, ``ledger`` the ``Ledger`` of what the
plugin has handed out so far (``dockerd/ledger.py``); it returns the problem in words, or None.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .goparse import parse_cidr
from .options import GATEWAY_LABEL

if TYPE_CHECKING:
    from .ledger import Ledger

JSON = Any
Rule = Callable[[Mapping[str, JSON], JSON, Mapping[str, JSON], "Ledger"], "str | None"]


def show(value: JSON) -> str:
    """A value as JSON, clipped to 80 characters."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 80 else text[:77] + "..."


def type_checked(_request: Mapping[str, JSON], _value: JSON, _answer: Mapping[str, JSON],
                 _ledger: Ledger) -> str | None:
    """Any value of the field's type will do: the type check and the verdict decide (a MAC
    address Go's ParseMAC refuses, say, is refused there)."""
    return None


def non_empty(_request: Mapping[str, JSON], value: JSON, _answer: Mapping[str, JSON],
              _ledger: Ledger) -> str | None:
    """A name dockerd keeps and sends back later must not be empty."""
    if value in (None, ""):
        return "empty, but dockerd needs a value to send back later"
    return None


def pool_id(request: Mapping[str, JSON], value: JSON, answer: Mapping[str, JSON],
            ledger: Ledger) -> str | None:
    """A new PoolID: not empty, and not the name of a pool still held."""
    empty = non_empty(request, value, answer, ledger)
    if empty is not None:
        return empty
    held = ledger.held(value)
    if held is not None:
        return f"{show(value)} already names the pool {held.network}, which is still held"
    return None


def dynamic_pool(request: Mapping[str, JSON], value: JSON, _answer: Mapping[str, JSON],
                 ledger: Ledger) -> str | None:
    """A pool the plugin picked: canonical, of the family asked for, overlapping nothing
    still held in the same address space."""
    interface = parse_cidr(value)
    if interface is None:
        return None  # the type check has said it
    if interface.ip != interface.network.network_address:
        return f"{value} has host bits set; a pool is returned canonical ({interface.network})"
    wants_v6 = bool(request.get("V6"))
    if (interface.version == 6) != wants_v6:
        return f"an IPv{interface.version} pool for a request with V6 {str(wants_v6).lower()}"
    space = str(request.get("AddressSpace", ""))
    other = ledger.overlapping(interface.network, space)
    if other is not None:
        return (f"{interface.network} overlaps {other.network} (PoolID {other.pool_id!r}), "
                f"still held in address space {space!r}")
    return None


def pool_data(_request: Mapping[str, JSON], value: JSON, answer: Mapping[str, JSON],
              _ledger: Ledger) -> str | None:
    """RequestPool's Data: a gateway it names must parse and lie inside the pool."""
    if not isinstance(value, Mapping) or GATEWAY_LABEL not in value:
        return None
    gateway, pool = parse_cidr(value[GATEWAY_LABEL]), parse_cidr(answer.get("Pool"))
    if gateway is None:
        return (f"the gateway {show(value[GATEWAY_LABEL])} is not ip/len: dockerd "
                "fails to parse it")
    if pool is not None and gateway.ip not in pool.network:
        return f"the gateway {gateway} is outside the pool {pool.network}"
    return None


def picked_address(request: Mapping[str, JSON], value: JSON, _answer: Mapping[str, JSON],
                   ledger: Ledger) -> str | None:
    """An address the plugin picked: inside the pool, free, with the pool's prefix length."""
    interface = parse_cidr(value)
    pool = ledger.held(request.get("PoolID"))
    if interface is None or pool is None or pool.network is None:
        return None  # not a CIDR (the type check says it), or a pool this run never saw
    if interface.ip not in pool.network:
        return f"{interface.ip} is outside the pool {pool.network}"
    if ledger.in_use(pool, interface.ip):
        return f"{interface.ip} is already in use in the pool {pool.network}"
    if interface.network.prefixlen != pool.network.prefixlen:
        return (f"prefix length /{interface.network.prefixlen} differs from the pool's "
                f"/{pool.network.prefixlen}: the container's interface would get "
                f"/{interface.network.prefixlen}")
    return None
