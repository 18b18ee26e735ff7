"""The thin netlink layer: lists links and applies the core's link changes with pyroute2.

``Netlink`` carries out ``AddBridge``, ``AddVeth`` and ``DeleteLink`` in one network namespace
(the caller's, or a named one under /run/netns, which the tests use so that the host is never
touched). ``MemoryLinks`` keeps pretend links in a dict under the same contract, for replays and
dry runs that must not touch the host. Which links should exist is decided in ``core``.

pyroute2 0.9 runs a private asyncio loop inside each synchronous call and refuses to do so in a
thread whose own loop is running, which is the case when the proxy's event loop calls the built-in
plugin. Every netlink call is therefore made on one dedicated worker thread, and the caller waits
for it (a few milliseconds per call; deleting a veth can take ~100 ms in the kernel).
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from .core import Action, AddBridge, AddVeth, DeleteLink, ObservedLink

T = TypeVar("T")
IFA_F_NODAD = 0x02  # an IPv6 gateway is usable at once, without duplicate address detection


class NetlinkFailure(OSError):
    """The kernel refused a link change; the text names the change and the kernel's reason.

    ``done`` counts the actions of the batch that were applied in full. The failed action itself
    has removed any link it had created, and never a link that existed before it.
    """

    def __init__(self, message: str, code: int | None = None, done: int = 0) -> None:
        super().__init__(message)
        self.code = code
        self.done = done


class LinkLayer(Protocol):
    """What the service needs from the kernel side (``Netlink``, or a fake in tests)."""

    def observe(self) -> tuple[ObservedLink, ...]: ...

    def apply(self, actions: Sequence[Action]) -> None: ...

    def close(self) -> None: ...


class Netlink:
    """Links in network namespace ``netns`` (a name under /run/netns; None: our own)."""

    def __init__(self, netns: str | None = None) -> None:
        self.netns = netns
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ipamx-netlink")

    def observe(self) -> tuple[ObservedLink, ...]:
        """Every link in the namespace. Raises NetlinkFailure."""
        return self._call(_observe)

    def apply(self, actions: Sequence[Action]) -> None:
        """Apply ``actions`` in order; stop at the first refusal and raise NetlinkFailure."""
        if actions:
            batch = tuple(actions)
            self._call(lambda ipr: _apply_all(ipr, batch))

    def close(self) -> None:
        self._worker.shutdown(wait=True)

    def _call(self, job: Callable[[Any], T]) -> T:
        return self._worker.submit(self._in_namespace, job).result()

    def _in_namespace(self, job: Callable[[Any], T]) -> T:
        where = f" in network namespace {self.netns!r}" if self.netns else ""
        try:
            ipr = IPRoute(netns=self.netns, flags=0, groups=0)
        except (OSError, NetlinkError) as exc:
            raise NetlinkFailure(f"netlink: cannot open a netlink socket{where}: {exc}") from exc
        with ipr:
            return job(ipr)


def _observe(ipr: Any) -> tuple[ObservedLink, ...]:
    try:
        links = tuple(ipr.get_links())
    except NetlinkError as exc:
        raise NetlinkFailure(f"netlink: cannot list links: {_reason(exc)}", exc.code) from exc
    return tuple(ObservedLink(name=str(link.get("ifname")), alias=str(link.get("ifalias") or ""),
                              kind=str(link.get_nested("IFLA_LINKINFO", "IFLA_INFO_KIND") or ""))
                 for link in links)


def _apply_all(ipr: Any, actions: tuple[Action, ...]) -> None:
    for done, action in enumerate(actions):
        try:
            _APPLIERS[type(action)](ipr, action)
        except NetlinkError as exc:
            raise NetlinkFailure(f"netlink: cannot {action.describe()}: {_reason(exc)}",
                                 exc.code, done) from exc


def _reason(exc: NetlinkError) -> str:
    text = exc.args[1] if len(exc.args) > 1 and exc.args[1] else os.strerror(exc.code)
    return f"{text} ({errno.errorcode.get(exc.code, exc.code)})"


def _index(ipr: Any, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return int(found[0]) if found else None


def _created(ipr: Any, name: str) -> int:
    index = _index(ipr, name)
    if index is None:
        raise NetlinkError(errno.ENODEV, f"link {name} vanished right after it was created")
    return index


def _add_bridge(ipr: Any, action: AddBridge) -> None:
    index = _index(ipr, action.name)
    if index is not None:
        alias = str(ipr.get_links(index)[0].get("ifalias") or "")
        if alias != action.marker:
            raise NetlinkError(errno.EEXIST, f"link {action.name} already exists and is not "
                                             f"this plugin's (its alias is {alias!r})")
        _configure_bridge(ipr, index, action)
        return
    ipr.link("add", ifname=action.name, kind="bridge")
    with _removed_on_failure(ipr, action.name):
        _configure_bridge(ipr, _created(ipr, action.name), action)


def _configure_bridge(ipr: Any, index: int, action: AddBridge) -> None:
    ipr.link("set", index=index, ifalias=action.marker)
    for address in action.addresses:
        _add_address(ipr, index, address)
    ipr.link("set", index=index, state="up")


def _add_address(ipr: Any, index: int, address: str) -> None:
    iface = ipaddress.ip_interface(address)
    extra = {"flags": IFA_F_NODAD} if iface.version == 6 else {}
    try:
        ipr.addr("add", index=index, address=str(iface.ip),
                 prefixlen=iface.network.prefixlen, **extra)
    except NetlinkError as exc:
        if exc.code != errno.EEXIST:
            raise


def _add_veth(ipr: Any, action: AddVeth) -> None:
    bridge = _index(ipr, action.bridge) if action.bridge else None
    if action.bridge and bridge is None:
        raise NetlinkError(errno.ENODEV, f"bridge {action.bridge} is missing")
    peer_spec = {"ifname": action.container}
    if action.mac:
        peer_spec["address"] = action.mac
    ipr.link("add", ifname=action.host, kind="veth", peer=peer_spec)
    with _removed_on_failure(ipr, action.host):
        host, peer = _created(ipr, action.host), _created(ipr, action.container)
        ipr.link("set", index=host, ifalias=action.host_marker)
        ipr.link("set", index=peer, ifalias=action.container_marker)
        if bridge is None:
            ipr.link("set", index=host, state="up")
        else:
            ipr.link("set", index=host, master=bridge, state="up")


@contextlib.contextmanager
def _removed_on_failure(ipr: Any, name: str) -> Iterator[None]:
    """Delete the link just created if configuring it fails, then let the error through."""
    try:
        yield
    except NetlinkError:
        with contextlib.suppress(NetlinkError):
            _delete_link(ipr, DeleteLink(name=name))
        raise


def _delete_link(ipr: Any, action: DeleteLink) -> None:
    index = _index(ipr, action.name)
    if index is None:
        return
    try:
        ipr.link("del", index=index)
    except NetlinkError as exc:
        if exc.code != errno.ENODEV:  # gone meanwhile, e.g. with its veth peer
            raise


_APPLIERS: dict[type, Callable[[Any, Any], None]] = {
    AddBridge: _add_bridge,
    AddVeth: _add_veth,
    DeleteLink: _delete_link,
}


class MemoryLinks:
    """Pretend links: the ``Netlink`` contract without a kernel (no root, no host changes)."""

    def __init__(self) -> None:
        self.links: dict[str, ObservedLink] = {"lo": ObservedLink(name="lo")}
        self.peers: dict[str, str] = {}
        self.masters: dict[str, str] = {}

    def observe(self) -> tuple[ObservedLink, ...]:
        return tuple(self.links.values())

    def apply(self, actions: Sequence[Action]) -> None:
        for done, action in enumerate(actions):
            problem = self._problem(action)
            if problem is not None:
                raise NetlinkFailure(f"netlink: cannot {action.describe()}: {problem}", None, done)
            self._apply(action)

    def close(self) -> None:
        return None

    def _problem(self, action: Action) -> str | None:
        if isinstance(action, AddBridge):
            link = self.links.get(action.name)
            if link is not None and link.alias != action.marker:
                return f"link {action.name} already exists and is not this plugin's"
        elif isinstance(action, AddVeth):
            if action.bridge and action.bridge not in self.links:
                return f"bridge {action.bridge} is missing"
            if {action.host, action.container} & set(self.links):
                return "File exists (EEXIST)"
        return None

    def _apply(self, action: Action) -> None:
        if isinstance(action, AddBridge):
            self.links[action.name] = ObservedLink(name=action.name, alias=action.marker,
                                                   kind="bridge")
        elif isinstance(action, AddVeth):
            self.links[action.host] = ObservedLink(name=action.host, alias=action.host_marker,
                                                   kind="veth")
            self.links[action.container] = ObservedLink(
                name=action.container, alias=action.container_marker, kind="veth")
            self.peers.update({action.host: action.container, action.container: action.host})
            if action.bridge:
                self.masters[action.host] = action.bridge
        else:
            for name in (action.name, self.peers.get(action.name, "")):
                self.links.pop(name, None)
                self.peers.pop(name, None)
                self.masters.pop(name, None)
