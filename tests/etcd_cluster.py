"""Real etcd members on loopback for the shared-allocator tests (Debian's ``etcd-server``).

``EtcdCluster(n)`` starts ``n`` members, each on its own ephemeral client and peer port of
127.0.0.1 with its own data directory under /tmp, and waits (bounded) until the cluster has a
leader. Without the ``etcd`` binary the tests skip with the reason, unless
``IPAMX_SPY_REQUIRE_TOOLS=1`` (CI), where they fail.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ETCD = shutil.which("etcd") or "/usr/bin/etcd"
START_TIMEOUT = 30.0


def require_etcd() -> None:
    if os.path.exists(ETCD):
        return
    reason = "etcd (Debian's etcd-server) is not installed"
    if os.environ.get("IPAMX_SPY_REQUIRE_TOOLS") == "1":
        pytest.fail(reason + " (IPAMX_SPY_REQUIRE_TOOLS=1)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Member:
    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None
    log: Path = field(default_factory=Path)

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.client_port}"


class EtcdCluster:
    """``n`` etcd members on loopback; ``store_url`` is the ``--store`` value for all of them."""

    def __init__(self, n: int = 1) -> None:
        require_etcd()
        self.root = Path(tempfile.mkdtemp(prefix="ipx-etcd-", dir="/tmp"))
        self.token = f"ipx-{uuid.uuid4().hex[:8]}"
        self.members = [Member(name=f"m{i}", client_port=free_port(), peer_port=free_port(),
                               data_dir=self.root / f"m{i}") for i in range(n)]
        for m in self.members:
            m.log = self.root / f"{m.name}.log"
        self.initial = ",".join(f"{m.name}=http://127.0.0.1:{m.peer_port}"
                                for m in self.members)

    @property
    def store_url(self) -> str:
        return "etcd://" + ",".join(m.endpoint for m in self.members)

    def start(self) -> EtcdCluster:
        for m in self.members:
            self.start_member(m)
        self.wait_healthy(self.members)
        return self

    def start_member(self, m: Member) -> None:
        args = [
            ETCD, "--name", m.name, "--data-dir", str(m.data_dir),
            "--listen-client-urls", f"http://127.0.0.1:{m.client_port}",
            "--advertise-client-urls", f"http://127.0.0.1:{m.client_port}",
            "--listen-peer-urls", f"http://127.0.0.1:{m.peer_port}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{m.peer_port}",
            "--initial-cluster", self.initial, "--initial-cluster-token", self.token,
            "--initial-cluster-state", "new",
            "--heartbeat-interval", "50", "--election-timeout", "500",
        ]
        with open(m.log, "ab") as log:
            m.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def wait_healthy(self, members: list[Member]) -> None:
        """Until every member in ``members`` answers /health with true (bounded)."""
        deadline = time.monotonic() + START_TIMEOUT
        pending = list(members)
        while pending:
            m = pending[0]
            if m.process is not None and m.process.poll() is not None:
                raise RuntimeError(f"etcd {m.name} exited: {m.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://{m.endpoint}/health", timeout=2) as r:
                    if b'"true"' in r.read():
                        pending.pop(0)
                        continue
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"etcd {m.name} not healthy after {START_TIMEOUT}s: "
                                   f"{m.log.read_text()[-2000:]}")
            time.sleep(0.1)

    def kill(self, m: Member) -> None:
        if m.process is not None and m.process.poll() is None:
            m.process.send_signal(signal.SIGKILL)
            m.process.wait(timeout=10)

    def stop(self) -> None:
        for m in self.members:
            if m.process is not None and m.process.poll() is None:
                m.process.terminate()
                try:
                    m.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.kill(m)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> EtcdCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *_exc: object) -> None:
        self.stop()
