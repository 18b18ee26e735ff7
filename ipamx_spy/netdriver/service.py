"""``NetworkService``: the reference network driver as a built-in service (``app.Service``).

Each call is planned by the sans-IO ``core.Driver``; this module carries the plan out in the order
that keeps the state file honest (``core``'s theory of operation): create links, save the state,
answer; or save the state, delete links, answer. Refusals and kernel errors become
``app.PluginError``, which dockerd receives as ``200 {"Err": ...}``.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ipamx_spy.app import Call, PluginError, Route, check_table
from ipamx_spy.dockerd import Endpoint

from .core import HANDLERS, INTERFACE, Action, Driver, LinkPlan, Refusal, reconcile, undo
from .links import LinkLayer, MemoryLinks, Netlink, NetlinkFailure
from .model import DriverState
from .naming import Naming
from .store import DriverStateStore, FileStore, MemoryStore

if TYPE_CHECKING:
    from ipamx_spy.builtin import BuiltinConfig

JSON = Any


class NetworkService:
    """The bridge-and-veth network driver for plugin ``name``.

    ``state_file``: where networks and endpoints are kept across restarts (None: in memory only).
    ``netns``: the network namespace (a name under /run/netns) to make links in; None for our
    own. ``links`` and ``store``: replacements for the netlink layer and the state file (tests).

    Starting reads the state, deletes links this plugin made that no network or endpoint claims,
    and recreates missing bridges. Raises ValueError for a malformed state file and OSError
    (``NetlinkFailure`` included) when the state or the links cannot be read or repaired: the
    caller should refuse to start, quoting the message.
    """

    interface = INTERFACE
    blocking = True  # netlink and fsync: the relay runs these calls off the event loop

    def __init__(self, *, name: str = "ipamx", state_file: Path | None = None,
                 netns: str | None = None, links: LinkLayer | None = None,
                 store: DriverStateStore | None = None) -> None:
        self.naming = Naming.for_plugin(name)
        self.driver = Driver(naming=self.naming)
        self.store: DriverStateStore = store if store is not None else (
            FileStore(state_file, name) if state_file else MemoryStore())
        self.links: LinkLayer = links if links is not None else Netlink(netns)
        self._lock = threading.Lock()
        self.state = self.store.load() or DriverState()
        self.startup_actions: tuple[Action, ...] = reconcile(
            self.naming, self.state, self.links.observe())
        self.links.apply(self.startup_actions)

    @classmethod
    def from_config(cls, config: BuiltinConfig) -> NetworkService:
        from ipamx_spy.builtin import NetworkLinks

        links = MemoryLinks() if config.network_links is NetworkLinks.MEMORY else None
        store = FileStore(config.network_state, config.name, group=config.group) \
            if config.network_state else None
        return cls(name=config.name, state_file=config.network_state, links=links, store=store)

    def routes(self) -> dict[Call, Route]:
        """A route per ``NetworkDriver.*`` row. Raises LookupError when ``core.HANDLERS``
        misses a row or names another interface's (``app.check_table``)."""
        return {endpoint: functools.partial(self.call, endpoint)
                for endpoint in check_table(INTERFACE, HANDLERS)}

    def call(self, endpoint: Endpoint, request: dict[str, JSON]) -> JSON:
        """Answer ``endpoint`` (a ``NetworkDriver.*`` row). Raises PluginError with the text
        for ``Err``."""
        with self._lock:
            try:
                plan = self.driver.plan(endpoint, self.state, request)
            except Refusal as exc:
                raise PluginError(str(exc)) from exc
            if plan.state is not self.state:
                self._commit(plan)
            return plan.response

    def close(self) -> None:
        """Stop the netlink worker (links and state stay as they are)."""
        self.links.close()

    def _commit(self, plan: LinkPlan) -> None:
        try:
            self.links.apply(plan.setup)
        except NetlinkFailure as exc:
            self._discard(plan.setup[:exc.done])
            raise PluginError(f"ipamx-spy: {exc}") from exc
        try:
            self.store.save(plan.state)
        except OSError as exc:
            self._discard(plan.setup)
            raise PluginError(f"ipamx-spy: cannot save the network-driver state: {exc}") from exc
        self.state = plan.state
        try:
            self.links.apply(plan.teardown)
        except NetlinkFailure as exc:
            raise PluginError(f"ipamx-spy: {exc} (the driver has forgotten it; the link is "
                              "removed when the plugin next starts)") from exc

    def _discard(self, setup: Sequence[Action]) -> None:
        """Best effort: a link left behind here is unclaimed, so the next start removes it."""
        for action in undo(setup):
            try:
                self.links.apply((action,))
            except NetlinkFailure:
                continue
