"""The built-in reference IPAM: Docker's default allocator, re-implemented sans-IO.

``Allocator`` is the core (no files, no sockets); ``StateStore`` makes it durable;
``IpamService`` serves it as an ``IpamDriver`` plugin. See docs/allocator.md.
"""

from __future__ import annotations

from .allocator import Allocator, LeaseView, NetworkView
from .config import IpamConfig
from .errors import ConfigError, IpamError, StateError
from .predefined import PredefinedPool
from .requests import AllocatedPool
from .service import IpamService
from .state import DEFAULT_STATE_PATH, StateStore, default_state_path, open_state

__all__ = [
    "DEFAULT_STATE_PATH", "AllocatedPool", "Allocator", "ConfigError", "IpamConfig",
    "IpamError", "IpamService", "LeaseView", "NetworkView", "PredefinedPool", "StateError",
    "StateStore", "default_state_path", "open_state",
]
