"""``ipamx-spy attach``: put the spy in front of an installed plugin, and take it away again.

``plan`` decides (no IO), ``fs`` finds the plugin and swaps and restores files, ``docker`` asks
dockerd about managed plugins, ``handover`` moves the connections dockerd holds, ``server`` is
the proxy server that does all of it when it binds and when it stops.
"""

from __future__ import annotations

from pathlib import Path

from ..address import SOCKET_DIR, SPEC_DIRS
from .docker import DockerAPI, DockerError, ManagedPlugin, find_managed
from .fs import find_legacy, socket_target
from .plan import AttachError, AttachPlan, AttachTarget, Journal, plan_for

__all__ = [
    "AttachError", "AttachPlan", "AttachTarget", "DockerError", "Journal", "locate", "plan_for",
]


def locate(name: str, api: DockerAPI | None, *, socket_dir: Path = SOCKET_DIR,
           spec_dirs: tuple[Path, ...] = SPEC_DIRS) -> tuple[AttachTarget, str | None]:
    """Plugin ``name`` the way dockerd finds it: managed first, then the legacy registry.

    Returns the target and a warning when dockerd could not be asked about managed plugins.
    Raises AttachError when there is no such plugin, or it is a disabled managed plugin.
    """
    unasked = None  # why dockerd could not be asked
    if api is not None:
        try:
            managed = find_managed(api, name)
        except DockerError as exc:
            managed, unasked = None, f"cannot ask dockerd about managed plugins: {exc}"
        if managed is not None:
            return _managed_target(name, managed, socket_dir), None
    try:
        return find_legacy(name, socket_dir=socket_dir, spec_dirs=spec_dirs), unasked
    except AttachError as exc:
        if api is None:
            raise
        raise AttachError(f"{exc}; {unasked or f'dockerd at {api.host} has no managed plugin'}") \
            from exc


def _managed_target(name: str, managed: ManagedPlugin, socket_dir: Path) -> AttachTarget:
    if not managed.enabled:
        raise AttachError(f"managed plugin {managed.name} is disabled: "
                          f"`docker plugin enable {managed.name}` first")
    how = f"managed plugin {managed.name} (id {managed.id[:12]}), socket"
    return socket_target(name, managed.socket_path(socket_dir), how)
