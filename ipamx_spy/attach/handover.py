"""Hand the connections dockerd already holds to a plugin over to the spy.

dockerd keeps idle keep-alive connections to a plugin for as long as both ends live (up to
Docker 29.4, PROTOCOL.md 1.4), so after the socket swap it would go on talking to the plugin
directly. For
each connection the plugin accepted on its listening socket, this shuts down the *plugin's*
reading side (``shutdown(SHUT_RD)`` on a copy of the plugin's descriptor, got with
``pidfd_getfd``). What follows is what a graceful close looks like to both peers:

- a request dockerd already wrote is still read and answered (queued bytes stay readable);
- the plugin then reads end-of-file and closes the connection, so dockerd drops it from its pool;
- a request dockerd writes after the shutdown fails with EPIPE before a byte is sent, which Go's
  HTTP client retries on a new connection, and new connections reach the spy.

The plugin's sockets are found with sock_diag: an accepted Unix socket reports the inode of the
socket file it was accepted on (``UNIX_DIAG_VFS``). sock_diag sees only the sockets of one
network namespace, and the kernel puts an accepted socket in the namespace of the side that
*connected*: when dockerd runs in a network namespace of its own (``ip netns exec``,
docker-in-docker with a shared ``/run/docker/plugins``, rootless Docker's RootlessKit), the
plugin's ends of dockerd's connections are in dockerd's namespace. So every network namespace a
process is in is searched, each from a short-lived thread that entered it (``setns`` changes
only the calling thread); one that cannot be entered is reported, never skipped silently.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

SYS_PIDFD_GETFD = 438  # the same number on every Linux architecture (since 5.6)
TCP_ESTABLISHED = 1
CLONE_NEWNET = 0x40000000


@dataclass(frozen=True, kw_only=True)
class Handover:
    """What happened to the held connections."""

    closed: int = 0
    failed: tuple[str, ...] = ()  # why a connection could not be closed, one line each
    elsewhere: tuple[str, ...] = ()  # "N from <process> in net:[...]", per other namespace


def accepted_sockets(socket_file: Path) -> set[int]:
    """Socket inodes of the connections accepted on the listening socket at ``socket_file``.

    Raises OSError when sock_diag is not available.
    """
    from pyroute2 import DiagSocket
    from pyroute2.netlink.diag import UDIAG_SHOW_VFS

    st = os.stat(socket_file)
    found: set[int] = set()
    with DiagSocket() as diag:
        diag.bind()
        for message in diag.get_sock_stats(family=socket.AF_UNIX, show=UDIAG_SHOW_VFS,
                                           states=1 << TCP_ESTABLISHED):
            vfs = message.get_attr("UNIX_DIAG_VFS")
            if message["udiag_state"] == TCP_ESTABLISHED and vfs and _same_file(vfs, st):
                found.add(int(message["udiag_ino"]))
    return found


def _same_file(vfs: dict[str, int], st: os.stat_result) -> bool:
    dev = vfs["udiag_vfs_dev"]  # the kernel's dev_t: major << 20 | minor
    return (vfs["udiag_vfs_ino"] == st.st_ino
            and (dev >> 20, dev & 0xFFFFF) == (os.major(st.st_dev), os.minor(st.st_dev)))


@dataclass(frozen=True, kw_only=True)
class Namespace:
    """A network namespace (``net:[INODE]``) and the process it is searched through."""

    name: str
    pid: int
    process: str  # "dockerd (pid 123)": a dockerd in it if there is one

    @property
    def described(self) -> str:
        return f"{self.process} in network namespace {self.name}"


def network_namespaces(proc: Path = Path("/proc")) -> list[Namespace]:
    """Every network namespace some process is in, each named by one of its processes (a
    dockerd if it has one)."""
    found: dict[str, Namespace] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = os.readlink(entry / "ns" / "net")
            command = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if name not in found or (command == "dockerd" and
                                 not found[name].process.startswith("dockerd ")):
            found[name] = Namespace(name=name, pid=int(entry.name),
                                    process=f"{command} (pid {entry.name})")
    return list(found.values())


def _enter_network_namespace(pid: int) -> None:
    """setns(2) of the calling thread into the network namespace of ``pid`` (os.setns is
    Python 3.12+). Raises OSError."""
    descriptor = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(descriptor, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, os.strerror(errno))
    finally:
        os.close(descriptor)


def in_network_namespace(pid: int, work: Callable[[], T]) -> T:
    """``work()`` run in a thread that entered the network namespace of process ``pid``.
    Raises OSError when the namespace cannot be entered, and whatever ``work`` raises."""
    result: list[T] = []
    error: list[BaseException] = []

    def run() -> None:
        try:
            _enter_network_namespace(pid)
            result.append(work())
        except BaseException as exc:  # noqa: BLE001 (handed to the caller's thread)
            error.append(exc)

    thread = threading.Thread(target=run, name=f"netns-of-{pid}")
    thread.start()
    thread.join()
    if error:
        raise error[0]
    return result[0]


def accepted_everywhere(socket_file: Path) -> tuple[dict[int, Namespace | None], list[str]]:
    """Connections accepted on ``socket_file`` in every network namespace: socket inode ->
    the other namespace it is in (None: this one), and why a namespace could not be searched.
    Raises OSError when sock_diag is not available here."""
    found: dict[int, Namespace | None] = dict.fromkeys(accepted_sockets(socket_file))
    ours = os.readlink("/proc/self/ns/net")
    unsearched = []
    for namespace in network_namespaces():
        if namespace.name == ours:
            continue
        try:
            inodes = in_network_namespace(namespace.pid, lambda: accepted_sockets(socket_file))
        except (OSError, ImportError) as exc:
            unsearched.append(f"cannot search {namespace.described} for connections to the "
                              f"plugin: {getattr(exc, 'strerror', None) or exc}")
            continue
        found.update(dict.fromkeys(inodes, namespace))
    return found, unsearched


def holders(inodes: set[int], proc: Path = Path("/proc")) -> dict[int, tuple[int, int]]:
    """For each socket inode, one (pid, fd) that holds it."""
    wanted = {f"socket:[{inode}]": inode for inode in inodes}
    found: dict[int, tuple[int, int]] = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            for fd, link in _descriptors(entry):
                inode = wanted.get(link)
                if inode is not None and inode not in found:
                    found[inode] = (int(entry.name), fd)
        if len(found) == len(wanted):
            break
    return found


def _descriptors(process: Path) -> Iterator[tuple[int, str]]:
    """(fd, link) of a process; descriptors closed meanwhile (or a process gone) are skipped."""
    try:
        names = os.listdir(process / "fd")
    except OSError:
        return
    for name in names:
        with contextlib.suppress(OSError):
            yield int(name), os.readlink(process / "fd" / name)


def _pidfd_getfd(pid: int, fd: int) -> int:
    libc = ctypes.CDLL(None, use_errno=True)
    pidfd = os.pidfd_open(pid)
    try:
        copy = int(libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0))
    finally:
        os.close(pidfd)
    if copy < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))
    return copy


def stop_reading(pid: int, fd: int) -> None:
    """``shutdown(SHUT_RD)`` on descriptor ``fd`` of process ``pid``. Raises OSError."""
    copy = socket.socket(fileno=_pidfd_getfd(pid, fd))
    try:
        copy.shutdown(socket.SHUT_RD)
    finally:
        copy.close()


def hand_over(socket_file: Path) -> Handover:
    """Ask the plugin listening at ``socket_file`` to finish and close its connections.

    Never raises: what could not be done is in ``failed`` (the connection then stays with the
    plugin until dockerd or the plugin closes it).
    """
    try:
        inodes, failed = accepted_everywhere(socket_file)
    except (OSError, ImportError) as exc:
        return Handover(failed=(f"cannot list the plugin's connections: {exc}",))
    closed, elsewhere = 0, dict[str, int]()
    for inode, (pid, fd) in holders(set(inodes)).items():
        try:
            stop_reading(pid, fd)
        except OSError as exc:
            failed.append(f"connection socket:[{inode}] (pid {pid} fd {fd}): "
                          f"{exc.strerror or exc}")
            continue
        closed += 1
        namespace = inodes[inode]
        if namespace is not None:
            elsewhere[namespace.described] = elsewhere.get(namespace.described, 0) + 1
    return Handover(closed=closed, failed=tuple(failed),
                    elsewhere=tuple(f"{n} from {where}" for where, n in elsewhere.items()))
