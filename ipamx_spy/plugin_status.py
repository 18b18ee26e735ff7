"""Asking a running built-in plugin what it holds: ipamx-spy's own extension endpoints
(``/IpamDriver.Version``, ``Configuration``, ``Networks``, ``Leases``, ``Metrics``), not Docker's.

The calls carry ``client: status`` in their request, so a proxy in between records them as
``client`` records, apart from dockerd's exchanges (replay, check and the exports leave them
alone).
"""

from __future__ import annotations

import json
from typing import Any

from .address import Address
from .client import PluginConnection, PluginNoAnswer, PluginProtocolError, docker_request
from .dockerd import SpyCall

CALLS = (SpyCall.VERSION, SpyCall.CONFIGURATION, SpyCall.NETWORKS, SpyCall.LEASES)


class StatusError(Exception):
    """The plugin did not answer, or does not serve an extension endpoint (it is not
    ipamx-spy's built-in plugin, or an older one); ``str()`` says which."""


def query(conn: PluginConnection, call: SpyCall) -> dict[str, Any]:
    """Call one extension endpoint (``SpyCall.LEASES``); StatusError when the plugin does not
    serve it (an error status, an ``Err``/``Error`` answer, or no JSON object)."""
    endpoint = call.value
    message, _ = conn.call(docker_request(endpoint, host="plugin.moby.localhost",
                                          client="status"))
    try:
        value = json.loads(message.body) if message.body else None
    except ValueError:
        value = None
    if message.status != 200 or not isinstance(value, dict) or value.get("Error"):
        reason = value.get("Err") or value.get("Error") if isinstance(value, dict) else None
        raise StatusError(f"{endpoint}: HTTP {message.status}: "
                          f"{reason or message.body[:200].decode('utf-8', 'replace')}")
    return value


def read_status(target: Address, *, metrics: bool = False,
                timeout: float = 10.0) -> dict[str, dict[str, Any]]:
    """Every status answer of the plugin at ``target``, by endpoint name without its
    ``IpamDriver.`` prefix (``Metrics`` too when asked). Raises StatusError naming the
    target."""
    calls = [*CALLS, SpyCall.METRICS] if metrics else list(CALLS)
    try:
        with PluginConnection(target, timeout=timeout) as conn:
            return {call.method: query(conn, call) for call in calls}
    except (PluginNoAnswer, PluginProtocolError, StatusError) as exc:
        raise StatusError(f"{target}: {exc}") from exc
