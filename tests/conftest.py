"""Shared fixtures: short socket directories and, in docker_env.py, the real dockerd."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest_plugins = ["docker_env"]


@pytest.fixture
def sockdir() -> Iterator[Path]:
    """A short directory for AF_UNIX sockets (paths are limited to 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="ipx-", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
