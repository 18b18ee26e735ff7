"""Shared fixtures: short socket directories, mitmproxy's virtualenv and, in docker_env.py,
the real dockerd."""

from __future__ import annotations

import os
import shutil
import subprocess
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


MITM_PYTHON = Path(os.environ.get("IPAMX_SPY_MITMPROXY_PYTHON",
                                  "/opt/ipamx-mitm-venv/bin/python"))


@pytest.fixture(scope="session")
def mitm_python() -> Path:
    """The python of mitmproxy's own virtualenv (its releases pin an old h11).

    IPAMX_SPY_MITMPROXY_PYTHON names it (default /opt/ipamx-mitm-venv/bin/python); mitmdump and
    mitmweb are beside it. Without it the test is skipped with the reason, unless
    IPAMX_SPY_REQUIRE_TOOLS=1 (CI), where it fails.
    """
    reason = ""
    if not MITM_PYTHON.exists():
        reason = f"no mitmproxy virtualenv python at {MITM_PYTHON}"
    else:
        probe = subprocess.run([str(MITM_PYTHON), "-c", "import mitmproxy.io"],
                               capture_output=True, text=True, timeout=120)
        if probe.returncode != 0:
            reason = f"{MITM_PYTHON} cannot import mitmproxy: {probe.stderr.strip()[-300:]}"
    if reason:
        if os.environ.get("IPAMX_SPY_REQUIRE_TOOLS") == "1":
            pytest.fail(reason + " (IPAMX_SPY_REQUIRE_TOOLS=1)")
        pytest.skip(reason + " (python3 -m venv /opt/ipamx-mitm-venv && "
                    "/opt/ipamx-mitm-venv/bin/pip install mitmproxy)")
    return MITM_PYTHON
