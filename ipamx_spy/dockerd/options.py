"""Well-known option keys and labels that travel in plugin bodies (PROTOCOL.md 2.7)."""

from __future__ import annotations

GATEWAY_OPTION = "RequestAddressType"
GATEWAY_LABEL = "com.docker.network.gateway"
SERIAL_OPTION = "com.docker.network.ipam.serial"
MAC_OPTION = "com.docker.network.endpoint.macaddress"
ENDPOINT_NAME_OPTION = "com.docker.network.endpoint.name"
