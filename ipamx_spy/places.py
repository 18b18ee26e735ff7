"""Where ipamx-spy keeps things on the host: control sockets, attach journals, recordings, state.

One place for these paths, so the commands that create them, the commands that find them again
(``mark``, ``detach``) and the tests agree.
"""

from __future__ import annotations

import datetime as _dt
from pathlib import Path

CONTROL_DIR = Path("/run/ipamx-spy")
"""Control sockets of running proxies and the journals of ``attach``."""

RECORDINGS_DIR = Path("recordings")
"""The default directory of recordings, created when missing (no other directory is)."""

STATE_DIR = Path("/var/lib/ipamx-spy")
"""The built-in plugin's state files with ``--state default``."""


def control_path(name: str) -> Path:
    """The control socket of the proxy called ``name`` (``mark`` talks to it)."""
    return CONTROL_DIR / f"{name}.ctl"


def journal_path(name: str) -> Path:
    """Where ``attach`` keeps what ``detach`` needs: /run/ipamx-spy/NAME.attach.json."""
    return CONTROL_DIR / f"{name}.attach.json"


def default_recording(name: str, now: _dt.datetime | None = None) -> Path:
    """A fresh recording's path under ``recordings/``, stamped with the local time."""
    stamp = (now or _dt.datetime.now()).strftime("%Y%m%d-%H%M%S")
    return RECORDINGS_DIR / f"ipamx-{name}-{stamp}.jsonl"


def state_path(name: str, state: str, suffix: str) -> Path | None:
    """The built-in plugin's state file for ``--state``: ``none`` keeps it in memory,
    ``default`` puts it under ``STATE_DIR``, anything else is the path."""
    if state == "none":
        return None
    if state == "default":
        return STATE_DIR / f"{name}.{suffix}.json"
    return Path(state)
