"""Beginning and ending an attach: the journal written before anything changes, and ``detach``
(from another process) stepping a running spy back or restoring after a crash.

A journal on disk means an attach is in progress or was cut short. Its ``pid`` and
``pid_start`` tell a running spy from a process that reused the pid: a running spy is asked to
step back itself (SIGTERM; it restores and removes the journal), anything else is restored from
the journal here. ``restore`` can run any number of times (``fs``), so every path below may be
retried after a failure.
"""

from __future__ import annotations

import enum
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from . import fs
from .plan import AttachError, AttachPlan, Journal


def refuse_if_attached(path: Path, name: str) -> None:
    """Raise AttachError when the journal ``path`` says ``name`` is attached or was left so."""
    journal = fs.read_journal(path)
    if journal is None:
        return
    if fs.spy_alive(journal):
        raise AttachError(f"ipamx-spy (pid {journal.pid}) is already attached to {name}")
    raise AttachError(f"a previous attach to {name} did not finish (pid {journal.pid} is "
                      f"gone): run `ipamx-spy detach {name}` first")


def begin_journal(path: Path, plan: AttachPlan, control: Path) -> Journal:
    """Write this process's journal for ``plan``; AttachError when it cannot be written (then
    nothing has changed)."""
    journal = Journal(plan=plan, pid=os.getpid(), control=control,
                      pid_start=fs.process_start(os.getpid()) or "")
    try:
        fs.write_journal(path, journal)
    except OSError as exc:
        raise AttachError(f"cannot write the journal {path}: {exc}") from exc
    return journal


class Detached(enum.Enum):
    """How ``detach`` ended."""

    NOT_ATTACHED = "not attached"  # no journal: nothing to do
    BY_THE_SPY = "by the spy"  # the running spy stepped back and removed its journal
    RESTORED = "restored"  # restored here from the journal (a crash, or a spy that hung)


@dataclass(frozen=True, kw_only=True)
class DetachOutcome:
    """What ``detach`` did: how, the steps it took, and whether a running spy ignored it."""

    how: Detached
    pid: int | None = None  # the spy's, from the journal
    steps: tuple[str, ...] = ()
    spy_hung: bool = False  # a running spy did not step back within the timeout


def detach(path: Path, timeout: float, *, poll: float = 0.05) -> DetachOutcome:
    """Undo the attach that the journal ``path`` records.

    Raises AttachError for an unreadable journal, and OSError when restoring fails (the journal
    is kept then, so that ``detach`` can be run again once the cause is fixed)."""
    journal = fs.read_journal(path)
    if journal is None:
        return DetachOutcome(how=Detached.NOT_ATTACHED)
    hung = False
    if fs.spy_alive(journal):
        if stop_spy(journal, path, timeout, poll=poll):
            return DetachOutcome(how=Detached.BY_THE_SPY, pid=journal.pid)
        hung = fs.spy_alive(journal)
    steps = fs.restore(journal)
    path.unlink(missing_ok=True)
    return DetachOutcome(how=Detached.RESTORED, pid=journal.pid, steps=tuple(steps),
                         spy_hung=hung)


def stop_spy(journal: Journal, path: Path, timeout: float, *, poll: float = 0.05) -> bool:
    """SIGTERM the running spy and wait up to ``timeout`` seconds for it to remove its journal
    (it restores first); False when it did not (it is gone or hangs): restore from the journal
    then. The spy is another process with no other channel to say it is done, hence the poll."""
    try:
        os.kill(journal.pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not path.exists():
            return True
        if not fs.spy_alive(journal):
            return not path.exists()
        time.sleep(poll)
    return False
