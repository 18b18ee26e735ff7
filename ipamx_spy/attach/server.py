"""The proxy server, attached: it steps in front of the plugin when it binds, and back first.

``AttachedServer`` is the lead's ``Server`` with two changes. ``bind`` listens on the staging
socket, records the spy's inode in the journal, swaps (``fs.put_spy_in_front``) and hands held
connections over. Stopping restores dockerd's path *before* the in-flight exchanges drain, so a
connection dockerd opens meanwhile reaches the plugin instead of a closed socket.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

from ..aio.listen import UnixListener, bind_unix
from ..aio.server import Server, ServerOptions
from ..proxy import ProxySession
from . import fs
from .handover import Handover, hand_over
from .plan import AttachError, Journal


class AttachedServer(Server):
    """A proxy in front of an installed plugin, undone through its journal."""

    def __init__(self, options: ServerOptions, session: ProxySession, *, journal: Journal,
                 journal_path: Path, handover: bool = True) -> None:
        super().__init__(options, session)
        self.journal = journal
        self.journal_path = journal_path
        self.handover_wanted = handover
        self.handover: Handover | None = None
        self.restored: list[str] | None = None  # None until restore() ran successfully
        self.on_attached: Callable[[AttachedServer], None] | None = None

    def bind(self) -> tuple[UnixListener, UnixListener | None]:
        """Listen, then step in front of the plugin. Raises AttachError, OSError."""
        plan = self.journal.plan
        main = bind_unix(plan.staging, self.options.socket_mode)
        control = None
        try:
            if self.options.control is not None:
                control = bind_unix(self.options.control, 0o600)
            self.journal = self.journal.with_spy_inode(main.inode)
            fs.write_journal(self.journal_path, self.journal)
            fs.put_spy_in_front(plan)
        except BaseException as exc:
            main.close()
            if control is not None:
                control.close()
            if isinstance(exc, AttachError):  # refused before anything changed
                self.restored = []
                self.journal_path.unlink(missing_ok=True)
            raise
        main.path = plan.listen
        if self.handover_wanted and plan.moved is not None:
            self.handover = hand_over(plan.moved)
        if self.on_attached is not None:
            self.on_attached(self)
        return main, control

    def restore(self) -> list[str]:
        """Put the plugin back and drop the journal; idempotent. Raises OSError (journal kept)."""
        if self.restored is None:
            self.restored = fs.restore(self.journal)
            self.journal_path.unlink(missing_ok=True)
        return self.restored

    def stopping(self) -> None:
        """Give dockerd's path back to the plugin before the exchanges in flight finish. A
        failure is retried and reported by the command, and the journal stays for `detach`."""
        with contextlib.suppress(OSError):
            self.restore()
