"""Unix listening sockets: refuse a live one, replace a stale one, set the mode, clean up."""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat
from dataclasses import dataclass
from pathlib import Path


class SocketInUse(OSError):
    """Another process is already listening on the socket path."""


def someone_listens(path: Path) -> bool:
    """True when a process listens on the Unix socket ``path``, even one too busy to accept.

    Only a refused connection (nobody listening) or a missing file means stale; a full backlog
    (EAGAIN) or a connect that times out is a busy plugin, never to be replaced.
    """
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.setblocking(False)
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        return False
    except BlockingIOError:
        return True
    except OSError as exc:
        return exc.errno not in {errno.ECONNREFUSED, errno.ENOENT, errno.ENOTSOCK}
    finally:
        probe.close()
    return True


@dataclass
class UnixListener:
    """A bound, listening Unix socket and the inode of the file it created."""

    path: Path
    sock: socket.socket
    inode: int

    def close(self) -> None:
        """Close the socket and remove the file, but only if it is still ours (same inode)."""
        self.sock.close()
        with contextlib.suppress(OSError):
            if os.lstat(self.path).st_ino == self.inode:
                self.path.unlink()


def bind_unix(path: Path, mode: int = 0o660) -> UnixListener:
    """A listening socket at ``path``; creates the directory, removes a stale socket.

    Raises SocketInUse when a live process listens there, FileExistsError when the path is
    something other than a socket (never deleted), and OSError for anything else (permissions,
    a path over the 108-byte limit).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise FileExistsError(f"{path} exists and is not a socket; not touching it")
        if someone_listens(path):
            raise SocketInUse(f"another process is already listening on {path}")
        path.unlink()
    # Bound and listening under a temporary name, then renamed into place: whoever sees the
    # path can connect (no ECONNREFUSED between bind and listen), with the mode already set.
    staging = path.with_name(f".{path.name}.{os.getpid()}")
    if len(os.fsencode(staging)) > 107:  # no room for the temporary name: bind in place
        staging = path
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        staging.unlink(missing_ok=True)
        sock.bind(str(staging))
        os.chmod(staging, mode)
        sock.listen(socket.SOMAXCONN)
        inode = os.lstat(staging).st_ino
        if staging != path:
            os.rename(staging, path)
    except OSError:
        sock.close()
        with contextlib.suppress(OSError):
            staging.unlink()
        raise
    sock.setblocking(False)
    return UnixListener(path=path, sock=sock, inode=inode)
