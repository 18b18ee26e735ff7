"""Where the driver's state lives between runs: a JSON file replaced atomically, or nowhere.

``FileStore.save`` writes a temporary file next to the state file, fsyncs it, renames it over the
state file and fsyncs the directory: after a crash the file holds either the old or the new state,
never a mixture. The service saves before it answers dockerd.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

from ..atomic import file_mode, write_atomically
from .model import DriverState, state_from_json, state_to_json


class DriverStateStore(Protocol):
    def load(self) -> DriverState | None: ...

    def save(self, state: DriverState) -> None: ...


class MemoryStore:
    """No persistence: the state starts empty every time the plugin starts."""

    def load(self) -> DriverState | None:
        return None

    def save(self, state: DriverState) -> None:
        return None


class FileStore:
    """The state in the JSON file ``path`` (its directory is created when needed)."""

    def __init__(self, path: Path, plugin: str, *, group: str | None = None) -> None:
        self.path = path
        self.plugin = plugin
        self.group = group  # may read the file (0640); None: only the owner (0600)

    def load(self) -> DriverState | None:
        """The saved state, or None if there is no file yet.

        Raises OSError if the file cannot be read, ValueError (naming the file) if it is not a
        network-driver state; the caller should refuse to start rather than guess.
        """
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            return state_from_json(json.loads(text))
        except ValueError as exc:
            raise ValueError(f"{self.path}: {exc}") from exc

    def save(self, state: DriverState) -> None:
        """Replace the file atomically. Raises OSError (disk full, read-only, ...)."""
        text = json.dumps(state_to_json(state, self.plugin), indent=1) + "\n"
        write_atomically(self.path, text, file_mode(self.group), group=self.group)
