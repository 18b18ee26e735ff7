"""The filesystem side of attaching: find the plugin, keep the journal, swap, restore.

Every step here is one rename, link, unlink or atomic file write, and ``restore`` can run any
number of times, from any state a crash leaves (see ``plan`` for the theory of operation).
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

from ..address import SOCKET_DIR, SPEC_DIRS, Address, AddressKind
from ..aio.listen import someone_listens
from ..atomic import write_atomically
from .plan import (
    AttachError,
    AttachPlan,
    AttachTarget,
    Journal,
    TargetKind,
    journal_from_json,
    journal_to_json,
    spec_address,
)


def _is_socket(path: Path, *, follow: bool = True) -> bool:
    try:
        mode = os.stat(path).st_mode if follow else os.lstat(path).st_mode
    except OSError:
        return False
    return stat.S_ISSOCK(mode)


def _inode(path: Path) -> int | None:
    try:
        return os.lstat(path).st_ino
    except OSError:
        return None


# -- finding the plugin -----------------------------------------------------------------------


def find_legacy(name: str, *, socket_dir: Path = SOCKET_DIR,
                spec_dirs: tuple[Path, ...] = SPEC_DIRS) -> AttachTarget:
    """Plugin ``name`` as dockerd's legacy registry finds it (PROTOCOL.md 1.1).

    Raises AttachError when nothing is found, or for a file dockerd could not use either.
    """
    for candidate in (socket_dir / f"{name}.sock", socket_dir / name / f"{name}.sock"):
        if _is_socket(candidate):
            return socket_target(name, candidate, "legacy plugin socket")
    for directory in spec_dirs:
        for candidate in (directory / f"{name}.spec", directory / name / f"{name}.spec",
                          directory / f"{name}.json", directory / name / f"{name}.json"):
            if candidate.exists():
                return _spec_target(name, candidate)
    raise AttachError(f"no plugin {name}: no {name}.sock in {socket_dir}, no {name}.spec or "
                      f"{name}.json in {', '.join(map(str, spec_dirs))}")


def socket_target(name: str, path: Path, how: str) -> AttachTarget:
    """A socket dockerd dials; a symlink is followed to the socket itself."""
    real = Path(os.path.realpath(path))
    if not _is_socket(real):
        raise AttachError(f"{path} is not a socket")
    return AttachTarget(name=name, kind=TargetKind.SOCKET, path=real, how=f"{how} {path}",
                        upstream=Address(kind=AddressKind.UNIX, path=str(real), source=str(path)))


def _spec_target(name: str, path: Path) -> AttachTarget:
    text = path.read_text()
    address = spec_address(path, text, name)
    if address.kind is AddressKind.UNIX:
        return socket_target(name, Path(address.path), f"socket named by {path}:")
    return AttachTarget(name=name, kind=TargetKind.FILE, path=path, upstream=address, original=text,
                        how=f"plugin file {path} ({address})")


# -- the journal ------------------------------------------------------------------------------




def write_journal(path: Path, journal: Journal) -> None:
    write_atomically(path, journal_to_json(journal), 0o600)


def read_journal(path: Path) -> Journal | None:
    """The journal at ``path``, or None. Raises AttachError for a file that is not one."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    return journal_from_json(text, str(path))


def process_start(pid: int) -> str | None:
    """The start time of process ``pid`` (field 22 of /proc/PID/stat), or None if it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()[19]


def spy_alive(journal: Journal) -> bool:
    """True when the spy that wrote the journal still runs (not a process reusing its pid)."""
    return process_start(journal.pid) == journal.pid_start


# -- attaching --------------------------------------------------------------------------------


def put_spy_in_front(plan: AttachPlan) -> None:
    """Make dockerd's path lead to the spy, which listens on ``plan.staging`` already.

    Raises AttachError (with nothing changed, or with the journal able to undo it).
    """
    if plan.moved is None:
        _rewrite(plan.target.path, plan.rewritten or "")
        return
    path, moved = plan.target.path, plan.moved
    if os.path.lexists(moved):
        raise AttachError(f"{moved} exists, left by an ipamx-spy that did not detach: run "
                          f"`ipamx-spy detach {plan.target.name}`; if it has no journal, remove "
                          f"{moved} once nothing answers there")
    original = os.lstat(path)
    if not stat.S_ISSOCK(original.st_mode):
        raise AttachError(f"{path} is no longer a socket")
    os.chown(plan.staging, original.st_uid, original.st_gid)
    os.chmod(plan.staging, stat.S_IMODE(original.st_mode))
    os.link(path, moved)
    os.rename(plan.staging, path)


def _rewrite(path: Path, text: str) -> None:
    mode = stat.S_IMODE(os.stat(path).st_mode)
    write_atomically(path, text, mode)


# -- detaching --------------------------------------------------------------------------------


def restore(journal: Journal) -> list[str]:
    """Put back what the journal says the spy changed; returns what was done, in words.

    Safe to run again and after a crash at any step. Raises OSError when the filesystem refuses
    (the journal is then still valid: fix the cause and run it again).
    """
    plan = journal.plan
    done = _restore_file(plan) if plan.moved is None else _restore_socket(plan, journal.spy_inode)
    if plan.staging != plan.listen or plan.moved is None:
        done += _remove_spy_socket(plan.staging, journal.spy_inode)
    control = journal.control
    if control is not None and _is_socket(control, follow=False) and not someone_listens(control):
        control.unlink(missing_ok=True)  # left by a spy killed with -9
    return done


def _restore_socket(plan: AttachPlan, spy_inode: int | None) -> list[str]:
    path, moved = plan.target.path, plan.moved
    assert moved is not None
    moved_inode = _inode(moved)
    if moved_inode is None:
        return _remove_spy_socket(path, spy_inode)
    current = _inode(path)
    if current == moved_inode:  # crashed between link and rename: two names, one socket
        moved.unlink()
        return [f"removed the second name {moved} of the plugin's socket"]
    if current is None or current == spy_inode:
        os.rename(moved, path)
        return [f"moved the plugin's socket back to {path}"]
    # The path holds a socket that is neither ours nor the plugin's old one: the plugin was
    # restarted and made a new socket. Keep it; drop the old name if nobody answers there.
    if someone_listens(moved):
        return [f"left {moved} alone: {path} is a new socket and {moved} still answers"]
    moved.unlink()
    return [f"{path} is a new socket (the plugin restarted); removed the dead {moved}"]


def _remove_spy_socket(path: Path, spy_inode: int | None) -> list[str]:
    if spy_inode is None or _inode(path) != spy_inode or not _is_socket(path, follow=False):
        return []
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    return [f"removed the spy's socket {path}"]


def _restore_file(plan: AttachPlan) -> list[str]:
    path = plan.target.path
    try:
        current = path.read_text()
    except FileNotFoundError:
        current = None
    if current == plan.target.original:
        return []
    if current is None:
        return [f"left {path} alone: it was removed while the spy was attached"]
    if current != plan.rewritten:
        return [f"left {path} alone: someone changed it while the spy was attached"]
    _rewrite(path, plan.target.original)
    return [f"wrote the original address back into {path}"]
