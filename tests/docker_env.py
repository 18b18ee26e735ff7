"""The real dockerd as a test peer: a session-wide daemon and helpers to drive it.

Tests marked ``docker`` use the ``dockerd`` fixture. Without root or without dockerd they are
skipped with the reason, unless ``IPAMX_SPY_REQUIRE_DOCKER=1`` (set by ``.ci/run``), which turns
the skip into a failure. Plugin names are activated once per daemon lifetime, so every test gets
its own name from ``plugin_name``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PLUGIN_DIR = Path("/run/docker/plugins")
IMAGE = "bb:latest"


def _require() -> bool:
    return os.environ.get("IPAMX_SPY_REQUIRE_DOCKER") == "1"


def _unavailable(reason: str) -> None:
    if _require():
        pytest.fail(f"IPAMX_SPY_REQUIRE_DOCKER=1 but the real dockerd cannot run: {reason}")
    pytest.skip(f"needs the real dockerd: {reason}")


def _find(*names: str) -> str | None:
    for name in names:
        if os.path.isabs(name) and os.access(name, os.X_OK):
            return name
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass
class Docker:
    """A running dockerd and its CLI."""

    root: Path
    socket: Path
    cli: str
    process: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str] = field(default_factory=dict)

    def run(self, *args: str, check: bool = True,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``docker ARGS``; with ``check`` a failure raises with the command's output."""
        result = subprocess.run([self.cli, *args], env=self.env, capture_output=True, text=True,
                                timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}{result.stderr}")
        return result

    def inspect(self, *args: str) -> list[dict]:  # type: ignore[type-arg]
        return json.loads(self.run(*args).stdout)  # type: ignore[no-any-return]

    def network(self, name: str) -> dict:  # type: ignore[type-arg]
        return self.inspect("network", "inspect", name)[0]

    def container_ip(self, container: str, network: str) -> str:
        data = self.inspect("inspect", container)[0]
        return str(data["NetworkSettings"]["Networks"][network]["IPAddress"])

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def make_image(docker: Docker, workdir: Path) -> None:
    busybox = _find("/bin/busybox", "busybox")
    if busybox is None:
        _unavailable("busybox (Debian package busybox-static) is not installed")
    tar_path = workdir / "bb.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(busybox, arcname="bin/busybox")
        for applet in ("sh", "sleep", "ip", "ping", "cat", "hostname"):
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)
    docker.run("import", str(tar_path), IMAGE)


def _wait_ready(docker: Docker, deadline: float) -> None:
    while time.monotonic() < deadline:
        if docker.process.poll() is not None:
            raise RuntimeError(f"dockerd exited early:\n{docker.log_text()[-3000:]}")
        ready = docker.socket.exists() and docker.run("version", check=False, timeout=10)
        if ready and ready.returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"dockerd did not come up:\n{docker.log_text()[-3000:]}")


def start_dockerd(workdir: Path, *extra: str) -> Docker:
    dockerd = _find("/usr/sbin/dockerd", "dockerd")
    cli = _find("/usr/bin/docker", "docker")
    if os.geteuid() != 0:
        _unavailable("dockerd needs root")
    if dockerd is None or cli is None:
        _unavailable("dockerd and docker are not installed (Debian package docker.io)")
    assert dockerd is not None and cli is not None
    workdir.mkdir(parents=True, exist_ok=True)
    sock = workdir / "docker.sock"
    log = workdir / "dockerd.log"
    args = [dockerd, "--data-root", str(workdir / "root"), "--exec-root", str(workdir / "exec"),
            "--pidfile", str(workdir / "pid"), "-H", f"unix://{sock}", "--storage-driver", "vfs",
            "--iptables=false", "--ip6tables=false", "--bridge=none", *extra]
    with open(log, "ab") as log_file:
        process = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT)
    docker = Docker(root=workdir, socket=sock, cli=cli, process=process, log=log,
                    env={**os.environ, "DOCKER_HOST": f"unix://{sock}"})
    _wait_ready(docker, time.monotonic() + 60)
    return docker


def stop_dockerd(docker: Docker, *, remove_containers: bool = True) -> None:
    """Stop dockerd (SIGTERM). With ``remove_containers``, remove every container first."""
    if remove_containers:
        containers = docker.run("ps", "-aq", check=False).stdout.split()
        if containers:
            docker.run("rm", "-f", *containers, check=False)
    docker.process.send_signal(signal.SIGTERM)
    try:
        docker.process.wait(30)
    except subprocess.TimeoutExpired:
        docker.process.kill()
        docker.process.wait()


@contextmanager
def fresh_dockerd(prefix: str = "ipx-dk-") -> Iterator[Docker]:
    """A new dockerd in a new directory, with the ``bb:latest`` image; removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        try:
            docker = start_dockerd(workdir)
        except RuntimeError as exc:
            _unavailable(str(exc))
            raise
        try:
            make_image(docker, workdir)
            yield docker
        finally:
            stop_dockerd(docker)
    finally:
        unmount_below(workdir)
        shutil.rmtree(workdir, ignore_errors=True)


def unmount_below(directory: Path) -> None:
    """Unmount whatever dockerd left mounted below ``directory`` (netns files, shm), deepest
    first, so that the directory can be removed."""
    prefix = str(directory.resolve()) + "/"
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts]
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


@pytest.fixture(scope="session")
def dockerd() -> Iterator[Docker]:
    """A dockerd for the whole test session, with the ``bb:latest`` busybox image."""
    with fresh_dockerd() as docker:
        yield docker


@pytest.fixture
def plugin_name() -> str:
    """A plugin name never used before in this daemon's lifetime."""
    return f"ipx{uuid.uuid4().hex[:8]}"


@dataclass
class SpyProcess:
    """``ipamx-spy`` running as a subprocess (as a user runs it)."""

    process: subprocess.Popen[str]
    socket: Path
    recording: Path | None
    output: str = ""

    def stop(self, sig: int = signal.SIGTERM) -> str:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            out, _ = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        self.output += out or ""
        return self.output


def spawn_spy(args: list[str], socket: Path, recording: Path | None,
              timeout: float = 20) -> SpyProcess:
    """Start ``ipamx-spy ARGS`` and wait until its socket accepts connections."""
    process = subprocess.Popen([sys.executable, "-m", "ipamx_spy", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    spy = SpyProcess(process=process, socket=socket, recording=recording)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ipamx-spy exited early:\n{spy.stop()}")
        if socket.exists():
            return spy
        time.sleep(0.05)
    raise RuntimeError(f"ipamx-spy did not listen on {socket}:\n{spy.stop()}")
