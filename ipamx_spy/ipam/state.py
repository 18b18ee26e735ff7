"""``--state FILE``: the allocator's data on disk, durable before each answer leaves.

Theory of operation. ``FILE`` is a JSON snapshot of the whole allocator, always replaced
atomically (temporary file in the same directory, write, flush, fsync, rename, fsync the
directory). Rewriting it for every request would make filling a /16 quadratic, so each
acknowledged request is first appended as one line to ``FILE.journal`` (its change records and
a sequence number) and fsync'd; ``save`` returns only then, and the service answers dockerd only
after ``save`` returns. When the journal has grown as large as the snapshot (and at least
``compact_bytes``), and every time the file is opened, the journal is folded into a new snapshot
and emptied.

Crash safety: a torn last journal line (no newline: the write did not finish, so ``save`` never
returned and no answer left) is dropped. A damaged line that *ends* in a newline was written
whole and may have been acknowledged: the load refuses with StateError rather than guess, since
dropping it could hand an acknowledged address out again (docs/allocator.md). Journal lines
whose sequence number the snapshot already covers (a crash between the snapshot rename and the
journal truncation) are skipped; leftover temporary files are removed. An exclusive ``flock``
on the journal keeps a second process off the same files (StateInUse).

Files: the snapshot and journal are created 0600 (0640 with ``group``), never through a
symbolic link; the directory is created only when it is the default ``/var/lib/ipamx-spy``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..atomic import fsync_directory, open_private, read_private, write_all, write_atomically
from .allocator import Allocator
from .config import IpamConfig
from .errors import StateError, StateInUse
from .model import Change

JSON = Any
FORMAT = "ipamx-spy/ipam-state"
VERSION = 1
DEFAULT_STATE_DIR = Path("/var/lib/ipamx-spy")
DEFAULT_STATE_PATH = str(DEFAULT_STATE_DIR / "<name>.state.json")
COMPACT_BYTES = 1 << 20


def default_state_path(name: str) -> Path:
    """``/var/lib/ipamx-spy/<name>.state.json`` for the plugin called ``name``."""
    return DEFAULT_STATE_DIR / f"{name}.state.json"


class StateStore:
    """The snapshot and journal of one allocator. Use ``open_state`` to get one."""

    def __init__(self, path: Path, journal_fd: int, *, seq: int, snapshot_bytes: int,
                 compact_bytes: int = COMPACT_BYTES, group: str | None = None) -> None:
        self.path = path
        self.group = group
        self.journal_path = journal_path(path)
        self._fd = journal_fd
        self.seq = seq
        self.snapshot_bytes = snapshot_bytes
        self.journal_bytes = os.fstat(journal_fd).st_size
        self.compact_bytes = compact_bytes
        self.last_error: str | None = None
        self.broken: str | None = None
        self.saves = 0
        self.compactions = 0

    def save(self, allocator: Allocator, changes: list[Change]) -> None:
        """Make ``changes`` durable (journal append + fsync), compacting now and then.

        Raises OSError when the journal cannot be written; the journal is then as before and
        the caller must undo the changes and refuse the request. A failed compaction is only
        recorded in ``last_error``: the changes are already durable.
        """
        if not changes:
            return
        line = json.dumps({"seq": self.seq + 1, "changes": changes},
                          separators=(",", ":")).encode("utf-8") + b"\n"
        self._append(line)
        self.seq += 1
        self.saves += 1
        self.journal_bytes += len(line)
        if self.journal_bytes >= max(self.compact_bytes, self.snapshot_bytes):
            try:
                self.compact(allocator)
            except OSError as exc:
                self.last_error = f"compacting {self.path} failed: {exc}"

    def _append(self, line: bytes) -> None:
        if self.broken is not None:
            raise OSError(self.broken)
        try:
            write_all(self._fd, line)
            os.fsync(self._fd)
        except OSError as exc:
            try:
                os.ftruncate(self._fd, self.journal_bytes)
            except OSError as again:
                self.broken = (f"journal {self.journal_path} may end in a partial entry "
                               f"({exc}; truncating failed: {again}); restart to recover")
            raise

    def compact(self, allocator: Allocator) -> None:
        """Write a new snapshot atomically, then empty the journal. Raises OSError."""
        data = encode_snapshot(allocator, self.seq)
        write_atomically(self.path, data, 0o600 if self.group is None else 0o640,
                         make_parent=False, group=self.group)
        self.snapshot_bytes = len(data)
        os.ftruncate(self._fd, 0)
        os.fsync(self._fd)
        self.journal_bytes = 0
        self.compactions += 1
        self.last_error = None

    def close(self) -> None:
        """Release the lock. The files stay as they are (nothing is lost by not compacting)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> StateStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def journal_path(path: Path) -> Path:
    return path.with_name(path.name + ".journal")


def open_state(path: str | os.PathLike[str], config: IpamConfig, *,
               clock: Callable[[], float] = time.time,
               compact_bytes: int = COMPACT_BYTES,
               group: str | None = None) -> tuple[Allocator, StateStore]:
    """Load (or start) the state in ``path``, locked for this process, compacted.

    Raises StateInUse when another process holds it, StateError naming the file when it is
    damaged or was written with another compat mode or other address-space names; UnsafePath
    (an OSError) for a symbolic link, MissingDirectory when a directory other than the default
    one does not exist, PermissionError and other OSErrors when it cannot be written.
    """
    target = Path(path)
    fd = _open_locked_journal(target, group)
    try:
        _remove_stale_temporaries(target)
        allocator, seq, size = _load_snapshot(target, config, clock)
        replayed = _replay_journal(target, fd, allocator, seq)
        store = StateStore(target, fd, seq=max(seq, replayed), snapshot_bytes=size,
                           compact_bytes=compact_bytes, group=group)
        if store.journal_bytes or size == 0:
            store.compact(allocator)
    except BaseException:
        os.close(fd)
        raise
    return allocator, store


def _open_locked_journal(target: Path, group: str | None) -> int:
    journal = journal_path(target)
    fd, created = open_private(journal, os.O_RDWR | os.O_APPEND, group=group,
                               make_parent=target.parent == DEFAULT_STATE_DIR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StateInUse(f"state file {target} is in use by another process "
                         "(stop it or choose another --state)") from None
    if created:
        fsync_directory(target.parent)
    return fd


def _remove_stale_temporaries(target: Path) -> None:
    for leftover in target.parent.glob(f".{target.name}.tmp-*"):
        with contextlib.suppress(OSError):
            leftover.unlink()


def _load_snapshot(target: Path, config: IpamConfig,
                   clock: Callable[[], float]) -> tuple[Allocator, int, int]:
    try:
        raw = read_private(target)
    except FileNotFoundError:
        return Allocator(config, clock=clock), 0, 0
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise StateError(f"state file {target} is not JSON ({exc}); restore it from a backup "
                         "or move it away to start empty") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise StateError(f"{target} is not an ipamx-spy allocator state file")
    if data.get("version") != VERSION:
        raise StateError(f"state file {target} has format version {data.get('version')!r}; "
                         f"this ipamx-spy reads version {VERSION}")
    allocator = Allocator.from_snapshot(data, config, clock=clock, source=f"state file {target}")
    return allocator, int(data.get("seq", 0)), len(raw)


def _replay_journal(target: Path, fd: int, allocator: Allocator, seq: int) -> int:
    """Apply the journal lines after ``seq``; returns the last sequence number applied."""
    with open(os.dup(fd), "rb") as journal:
        journal.seek(0)
        lines = journal.read().split(b"\n")
    entries = []
    for number, line in enumerate(lines, start=1):
        if not line:
            continue
        try:
            entries.append(json.loads(line))
        except ValueError as exc:
            if number < len(lines):  # ends in a newline: written whole, maybe acknowledged
                raise StateError(
                    f"journal {journal_path(target)} line {number} is damaged although it "
                    f"was written whole ({exc}); it may hold an allocation dockerd was told "
                    "about, so ipamx-spy will not guess: repair or remove that line by hand "
                    "(docs/allocator.md, 'A damaged journal')") from exc
    for entry in entries:
        seq = _apply_entry(target, allocator, entry, seq)
    return seq


def _apply_entry(target: Path, allocator: Allocator, entry: JSON, seq: int) -> int:
    where = f"journal {journal_path(target)}"
    if not isinstance(entry, dict) or not isinstance(entry.get("seq"), int):
        raise StateError(f"{where} holds a line that is not a journal entry: {entry!r:.80}")
    if entry["seq"] <= seq:
        return seq
    if entry["seq"] != seq + 1:
        raise StateError(f"{where} jumps from {seq} to {entry['seq']}: lines are missing")
    try:
        allocator.apply(entry["changes"])
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise StateError(f"{where} entry {entry['seq']} does not apply: {exc!r}") from exc
    return int(entry["seq"])


def encode_snapshot(allocator: Allocator, seq: int) -> bytes:
    document = {"format": FORMAT, "version": VERSION, "seq": seq,
                "written": allocator.clock(), **allocator.snapshot()}
    return json.dumps(document, separators=(",", ":")).encode("utf-8") + b"\n"
