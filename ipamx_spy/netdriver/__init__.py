"""The reference network driver: a Linux bridge per network, a veth pair per endpoint.

``core`` decides (sans-IO: requests and state in, plans out), ``model`` holds the state and its
JSON form, ``naming`` names and recognises our links, ``links`` applies plans over netlink
(pyroute2), ``store`` keeps the state on disk, and ``service.NetworkService`` ties them together
as a built-in service of ``ipamx_spy.app``. The user-facing description is docs/network-driver.md.
"""

from __future__ import annotations
