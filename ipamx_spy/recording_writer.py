"""Writing recordings: every record whole in the file or absent, never torn, never glued.

Theory of operation
-------------------
``RecordingWriter`` keeps one descriptor opened with ``O_APPEND`` (see ``atomic.open_private``:
new files 0600 or 0640 with a group, ``O_EXCL``, never through a symbolic link). ``write``
encodes a record as one line (``encode_line`` never fails: text UTF-8 cannot hold is escaped,
a record that cannot be encoded at all is replaced by an ``unrecordable`` record saying why) and
writes it with as many ``write`` calls as the kernel needs. When a write fails part-way (disk
full), the bytes already written are cut off again (``ftruncate``), so the file ends in a whole
record and the caller may retry the same record later. If even that fails, the writer refuses
every later write (the file would end in a partial line) until it is reopened; a reopened file
whose last line is incomplete is cut back to its last whole line before anything is appended.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from .atomic import open_private
from .recording import RecordingError
from .records import UnrecordableRecord

Write = Callable[[int, memoryview], int]


def encode_line(record: dict[str, Any]) -> bytes:
    """One record as one UTF-8 line ending in a newline. Never raises."""
    try:
        return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
    except UnicodeEncodeError:  # a lone surrogate outside a body: escape it (lossless)
        return (json.dumps(record, separators=(",", ":")) + "\n").encode()
    except (RecursionError, TypeError, ValueError) as exc:
        return encode_line(unrecordable(record, exc))


def unrecordable(record: dict[str, Any], exc: BaseException) -> dict[str, Any]:
    """What is written instead of a record that cannot be encoded as JSON (its stand-in
    keeps the record's type, ``seq``, ``conn``, ``t`` and ``endpoint`` where they are of
    their usual types)."""
    return UnrecordableRecord(
        reason=f"the record could not be encoded: {type(exc).__name__}: {exc}"[:500],
        was=_kept(record, "type", str), seq=_kept(record, "seq", int),
        conn=_kept(record, "conn", int), t=_kept(record, "t", int | float),
        endpoint=_kept(record, "endpoint", str),
    ).to_json()


def _kept(record: dict[str, Any], name: str, kind: Any) -> Any:
    value = record.get(name)
    return value if isinstance(value, kind) else None


class RecordingWriter:
    """Append records to a file, one whole line each, in the OS before ``write`` returns.

    ``write`` raises OSError when the sink fails (disk full, file gone); the file then ends in a
    whole record and the same record may be written again later. The proxy's policy for a
    failing sink lives in ``ipamx_spy.proxy``. Opening raises UnsafePath (a symbolic link),
    MissingDirectory (``make_parent`` creates one missing level) and ValueError (unknown
    ``group``).
    """

    def __init__(self, path: Path, header: dict[str, Any], *, fsync: bool = False,
                 group: str | None = None, make_parent: bool = False,
                 write: Write = os.write) -> None:
        self.path = path
        self._fd, _ = open_private(path, os.O_RDWR | os.O_APPEND, group=group,
                                   make_parent=make_parent)
        self._fsync = fsync
        self._write_call = write
        self._broken: str | None = None
        self.repaired = 0
        try:
            if os.fstat(self._fd).st_size:
                _refuse_other_files(path)
            self.repaired = cut_torn_tail(self._fd)
            if os.fstat(self._fd).st_size == 0:
                self.write(header)
        except BaseException:
            os.close(self._fd)
            raise

    def write(self, record: dict[str, Any]) -> None:
        self.write_line(encode_line(record))

    def write_line(self, line: bytes) -> None:
        """Write one encoded line (from ``encode_line``) whole, or leave the file as it was."""
        if self._broken is not None:
            raise OSError(errno.EIO, self._broken)
        view = memoryview(line)
        done = 0
        try:
            while done < len(line):
                written = self._write_call(self._fd, view[done:])
                if written <= 0:
                    raise OSError(errno.ENOSPC, "No space left on device")
                done += written
            if self._fsync:
                os.fsync(self._fd)
        except OSError:
            if done:
                self._roll_back(done)
            raise

    def _roll_back(self, written: int) -> None:
        try:
            os.ftruncate(self._fd, os.fstat(self._fd).st_size - written)
        except OSError as exc:
            self._broken = (f"{self.path} ends in a partial record that could not be cut off "
                            f"({exc.strerror or exc}); reopen it to repair")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _refuse_other_files(path: Path) -> None:
    from .recording_reader import read_header

    try:
        read_header(path)
    except RecordingError as exc:
        raise RecordingError(f"{path} exists and is not an ipamx-spy recording; refusing to "
                             "append to it") from exc


def cut_torn_tail(fd: int) -> int:
    """Cut a last line that has no newline (a writer killed mid-line); the bytes removed."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return 0
    end = size
    while end > 0:
        start = max(0, end - 65536)
        chunk = os.pread(fd, end - start, start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            keep = start + newline + 1
            os.ftruncate(fd, keep)
            return size - keep
        end = start
    os.ftruncate(fd, 0)
    return size


def append_records(path: Path, records: Iterable[dict[str, Any]]) -> None:
    """Append records (for example notes) to an existing recording, each line whole.

    Raises RecordingError when the file is not a recording or its last line is torn (appending
    would glue the new record onto the torn one); OSError (with the file unchanged) when the
    write fails.
    """
    from .recording_reader import read_header

    read_header(path)
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            raise RecordingError(f"{path}: the last line is torn (a writer was killed "
                                 "mid-line); refusing to append after it")
        data = b"".join(encode_line(r) for r in records)
        try:
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)
