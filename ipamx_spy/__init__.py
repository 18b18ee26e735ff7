"""ipamx-spy: a protocol recorder and debugging proxy for Docker libnetwork plugins."""

from __future__ import annotations

__version__ = "0.1.0"
