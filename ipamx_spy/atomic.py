"""Files that last and cannot be redirected: atomic replacement, private creation.

``write_atomically`` replaces a file so that after a crash it holds the old content or the new,
never half. ``open_private`` opens a file ipamx-spy writes to (a recording, a journal): new files
are created with ``O_EXCL`` and mode 0600 (0640 with a named group), a symbolic link is refused
instead of followed (as root, following one would let anyone who can plant a link choose which
file is truncated or appended to), and the directory must exist unless the caller created the
path itself.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import os
import secrets
import stat
from pathlib import Path


class UnsafePath(OSError):
    """A path ipamx-spy refuses to write through (a symbolic link, not a regular file)."""

    def __str__(self) -> str:
        return str(self.strerror)


class MissingDirectory(FileNotFoundError):
    """The directory of a file to create does not exist (it is not created silently)."""

    def __str__(self) -> str:
        return str(self.strerror)


def group_id(name: str) -> int:
    """The id of a group by name or number. Raises ValueError for an unknown group."""
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        if name.isdigit():
            return int(name)
        raise ValueError(f"there is no group called {name!r}") from None


def file_mode(group: str | None) -> int:
    return 0o600 if group is None else 0o640


def open_private(path: Path, flags: int, *, group: str | None = None,
                 make_parent: bool = False) -> tuple[int, bool]:
    """Open ``path`` for writing (``flags`` such as ``O_WRONLY | O_APPEND``); create it if new.

    Returns the descriptor and whether the file was created. A new file gets mode 0600, or 0640
    owned by ``group``. Raises UnsafePath for a symbolic link or a non-regular file,
    MissingDirectory when the directory does not exist (``make_parent`` creates one missing
    level, mode 0700), ValueError for an unknown group, OSError otherwise.
    """
    gid = None if group is None else group_id(group)
    _ensure_directory(path.parent, make_parent)
    base = flags | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, base | os.O_CREAT | os.O_EXCL, 0o600)
        created = True
    except FileExistsError:
        fd = _open_existing(path, base)
        created = False
    try:
        if created and gid is not None:
            os.fchown(fd, -1, gid)
            os.fchmod(fd, 0o640)
    except BaseException:
        os.close(fd)
        raise
    return fd, created


def _open_existing(path: Path, flags: int) -> int:
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePath(errno.ELOOP, f"{path} is a symbolic link; ipamx-spy does not write "
                             "through links (give the real path)") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UnsafePath(errno.EINVAL, f"{path} is not a regular file")
    return fd


def _ensure_directory(directory: Path, make: bool) -> None:
    if directory.is_dir():
        return
    if make and directory.parent.is_dir():
        with contextlib.suppress(FileExistsError):
            directory.mkdir(mode=0o700)
        return
    raise MissingDirectory(errno.ENOENT, f"directory {directory} does not exist (create it "
                           "first; ipamx-spy does not create directories you did not name)")


def read_private(path: Path) -> bytes:
    """The bytes of a file, refusing a symbolic link. Raises FileNotFoundError, UnsafePath."""
    fd = _open_existing(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with open(fd, "rb") as file:
        return file.read()


def write_atomically(path: Path, data: bytes | str, mode: int = 0o600, *,
                     make_parent: bool = True, group: str | None = None) -> None:
    """Temp file in the same directory, write, fsync, rename over ``path``, fsync the directory.

    The temporary file has a random name and is created with ``O_EXCL | O_NOFOLLOW``, so a
    planted file or link is never written through. ``make_parent=False`` refuses a missing
    directory (MissingDirectory) instead of creating it. Raises OSError (disk full, read-only,
    permissions); the old file is then untouched and the temporary file removed.
    """
    if isinstance(data, str):
        data = data.encode("utf-8")
    if make_parent:
        path.parent.mkdir(parents=True, exist_ok=True)
    else:
        _ensure_directory(path.parent, False)
    gid = None if group is None else group_id(group)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o600)
    try:
        try:
            write_all(fd, data)
            if gid is not None:
                os.fchown(fd, -1, gid)
            os.fchmod(fd, mode)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    fsync_directory(path.parent)


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is written (it may write fewer)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:
            raise OSError(errno.ENOSPC, "the file system accepted no more bytes")
        view = view[written:]


def fsync_directory(directory: Path) -> None:
    """Make a rename or a new file in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
