"""What ``ipamx-spy attach`` changes and how to undo it, decided without touching anything.

Theory of operation. dockerd reaches a plugin through a path (PROTOCOL.md 1.1): a socket it
dials for every new connection, or a ``.spec``/``.json`` file it reads once, when it first looks
the plugin up. Attaching changes what that path leads to; the journal, written before anything
changes, says how to put it back, even after ``kill -9``.

- ``socket`` targets (a legacy ``N.sock`` or ``N/N.sock``, a ``.spec``/``.json`` file naming a
  ``unix://`` socket, a managed plugin's ``/run/docker/plugins/<id>/<socket>``): the spy binds a
  *staging* socket next to the plugin's, hard-links the plugin's socket to the *moved* name (it
  stays reachable there: a socket is found by its inode), then renames the staging socket over the
  original path. At every instant the path leads to a listening socket. Detaching renames the
  moved name back over the path, which is just as atomic.
- ``file`` targets (a ``.spec``/``.json`` file with a ``tcp://`` or ``http://`` address): the spy
  listens on its own socket and the file is rewritten to name it; detaching writes the original
  text back. dockerd only reads the file when it looks the plugin up, so this reaches a plugin not
  used yet, or every plugin after dockerd restarts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..address import Address, AddressError, AddressKind, parse_url

JOURNAL_VERSION = 1
SUN_PATH_MAX = 107  # bytes in sockaddr_un.sun_path, without the terminating NUL
MOVED_SUFFIX = ".plugin"
STAGING_SUFFIX = ".spy"


class TargetKind(StrEnum):
    """How dockerd reaches the plugin: a socket it dials, or a file it reads once."""

    SOCKET = "socket"
    FILE = "file"


KINDS = tuple(kind.value for kind in TargetKind)


class AttachError(RuntimeError):
    """Attaching or detaching cannot go on; the message says what to do."""


@dataclass(frozen=True, kw_only=True)
class AttachTarget:
    """Where dockerd finds plugin ``name``: the socket it dials or the file it reads."""

    name: str
    kind: TargetKind  # a word is converted on construction
    path: Path
    upstream: Address  # where the plugin itself answers
    how: str  # for messages: "legacy plugin socket", "managed plugin ipamx:latest (id 3f2a…)"
    original: str = ""  # kind "file": the file's text

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"target kind {self.kind!r} is not one of {KINDS}")
        object.__setattr__(self, "kind", TargetKind(self.kind))


@dataclass(frozen=True, kw_only=True)
class AttachPlan:
    """The spy's place: where it binds, where dockerd will reach it, what it forwards to."""

    target: AttachTarget
    listen: Path  # where dockerd reaches the spy once attached
    staging: Path  # where the spy binds first (== listen for a file target)
    moved: Path | None  # socket target: where the plugin's socket stays reachable meanwhile
    upstream: Address  # what the spy forwards to
    rewritten: str | None = None  # file target: the file's text while attached


@dataclass(frozen=True, kw_only=True)
class Journal:
    """Everything ``detach`` needs, on disk before anything changes."""

    plan: AttachPlan
    pid: int
    pid_start: str  # /proc/PID/stat start time: tells the spy from a process that reused its pid
    spy_inode: int | None = None  # the spy's listening socket, once bound
    control: Path | None = None  # the spy's control socket (`ipamx-spy mark`)
    version: int = JOURNAL_VERSION

    def with_spy_inode(self, inode: int) -> Journal:
        return replace(self, spy_inode=inode)


def _checked_socket_path(path: Path, what: str) -> Path:
    if len(str(path).encode()) > SUN_PATH_MAX:
        raise AttachError(f"{what} {path} would be longer than the {SUN_PATH_MAX}-byte limit of "
                          "a Unix socket path")
    return path


def plan_for(target: AttachTarget, spy_dir: Path) -> AttachPlan:
    """Where the spy goes for ``target``. Raises AttachError for a path too long to bind."""
    if target.kind is TargetKind.SOCKET:
        base = target.path.name
        moved = _checked_socket_path(target.path.with_name(f".{base}{MOVED_SUFFIX}"),
                                     "the plugin's socket, moved aside, at")
        staging = _checked_socket_path(target.path.with_name(f".{base}{STAGING_SUFFIX}"),
                                       "the spy's socket")
        return AttachPlan(target=target, listen=target.path, staging=staging, moved=moved,
                          upstream=Address(kind=AddressKind.UNIX, path=str(moved),
                                           source=target.how))
    spy_socket = _checked_socket_path(spy_dir / f"{target.name}.sock", "the spy's socket")
    return AttachPlan(target=target, listen=spy_socket, staging=spy_socket, moved=None,
                      upstream=target.upstream,
                      rewritten=rewrite_spec(target.path, target.original, f"unix://{spy_socket}"))


def spec_address(path: Path, text: str, name: str) -> Address:
    """The address in a ``.spec`` (the whole text) or ``.json`` (its Addr) plugin file.

    Raises AttachError for a file dockerd could not use either, or for TLS (https).
    """
    source = f"plugin {name} via {path}"
    try:
        if path.suffix == ".json":
            data = json.loads(text)
            if not isinstance(data, dict) or "Addr" not in data:
                raise AttachError(f"{path}: a plugin .json file needs an Addr")
            return parse_url(str(data["Addr"]), source)
        return parse_url(text, source)
    except (AddressError, ValueError) as exc:
        raise AttachError(f"{path}: {exc}") from exc


def rewrite_spec(path: Path, text: str, url: str) -> str:
    """The file's text with its address replaced by ``url`` (other .json fields are kept)."""
    if path.suffix != ".json":
        return url + "\n"
    data = json.loads(text)
    data["Addr"] = url
    return json.dumps(data, indent=2) + "\n"


# -- the journal as JSON ----------------------------------------------------------------------


def journal_to_json(journal: Journal) -> str:
    plan, target = journal.plan, journal.plan.target
    data: dict[str, Any] = {
        "version": journal.version, "pid": journal.pid, "pid_start": journal.pid_start,
        "spy_inode": journal.spy_inode, "name": target.name, "kind": target.kind.value,
        "path": str(target.path), "how": target.how, "plugin": str(target.upstream),
        "original": target.original, "listen": str(plan.listen), "staging": str(plan.staging),
        "moved": None if plan.moved is None else str(plan.moved), "upstream": str(plan.upstream),
        "rewritten": plan.rewritten,
        "control": None if journal.control is None else str(journal.control),
    }
    return json.dumps(data, indent=2) + "\n"


def journal_from_json(text: str, source: str) -> Journal:
    """A journal read back. Raises AttachError naming ``source`` when it is not one."""
    try:
        data = json.loads(text)
        if data.get("version") != JOURNAL_VERSION:
            raise AttachError(f"{source}: journal version {data.get('version')!r}, "
                              f"this ipamx-spy reads {JOURNAL_VERSION}")
        target = AttachTarget(name=data["name"], kind=data["kind"], path=Path(data["path"]),
                              upstream=parse_url(data["plugin"]), how=data["how"],
                              original=data["original"])
        plan = AttachPlan(target=target, listen=Path(data["listen"]), staging=Path(data["staging"]),
                          moved=None if data["moved"] is None else Path(data["moved"]),
                          upstream=parse_url(data["upstream"]), rewritten=data["rewritten"])
        control = data.get("control")
        return Journal(plan=plan, pid=int(data["pid"]), pid_start=str(data["pid_start"]),
                       spy_inode=data["spy_inode"], version=data["version"],
                       control=None if control is None else Path(control))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise AttachError(f"{source} is not an ipamx-spy attach journal ({exc!r}); "
                          "restore the plugin's socket or file by hand") from exc
