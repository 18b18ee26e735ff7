"""End to end: the Dockerfile's image, built with the real dockerd and no registry, runs the
proxy with the mounts of the README, and serves `docker network create` through the reference
allocator.

The base image comes from scripts/build_base_image.sh (debootstrap; cached by tag and as a
tarball), the wheels from `pip wheel` on the host: nothing is pulled from a registry.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from docker_env import IMAGE, PLUGIN_DIR, Docker

from ipamx_spy import recording
from ipamx_spy.places import control_path

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parents[1]
SPY_IMAGE = "ipamx-spy:e2e"
_built: dict[Path, str] = {}  # dockerd root -> image, so both image test files build once


def _need(tool: str, package: str) -> None:
    if shutil.which(tool) is None:
        reason = f"needs {tool} (Debian package {package})"
        if os.environ.get("IPAMX_SPY_REQUIRE_DOCKER") == "1":
            pytest.fail(f"IPAMX_SPY_REQUIRE_DOCKER=1 but the image cannot be built: {reason}")
        pytest.skip(reason)


def _run(args: list[str], env: dict[str, str], timeout: float) -> str:
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n"
                             f"{result.stdout[-3000:]}{result.stderr[-3000:]}")
    return result.stdout


def build_image(docker: Docker) -> str:
    """The README's build, in ``docker``: base image, wheels, `docker build`. Once per dockerd."""
    if docker.root in _built:
        return _built[docker.root]
    _need("debootstrap", "debootstrap")
    base = _run([str(REPO / "scripts" / "build_base_image.sh")], docker.env, 900).strip()
    context = Path(tempfile.mkdtemp(prefix="ipx-image-", dir="/tmp"))
    try:
        shutil.copy(REPO / "Dockerfile", context)
        (context / "plugin").mkdir()
        shutil.copy(REPO / "plugin" / "config.json", context / "plugin")
        _run([sys.executable, "-m", "pip", "wheel", "-q", str(REPO), "-w", str(context / "dist")],
             docker.env, 600)
        _run([docker.cli, "build", "-q", "--network", "host", "--build-arg", f"BASE={base}",
              "-t", SPY_IMAGE, str(context)], {**docker.env, "DOCKER_BUILDKIT": "0"}, 900)
    finally:
        shutil.rmtree(context, ignore_errors=True)
    _built[docker.root] = SPY_IMAGE
    return SPY_IMAGE


def wait_for_socket(path: Path, docker: Docker, container: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"no socket {path}:\n{docker.run('logs', container).stderr}")
        time.sleep(0.1)


@pytest.mark.dockerd("20.10", "28.5")  # a docker build on vfs is slow: the oldest and newest
def test_the_container_serves_network_create_through_the_reference_allocator(
        dockerd: Docker, plugin_name: str, sockdir: Path) -> None:
    image = build_image(dockerd)
    recordings, state = sockdir / "recordings", sockdir / "state"
    recordings.mkdir()
    container, net = f"{plugin_name}-spy", f"{plugin_name}-net"
    socket = PLUGIN_DIR / f"{plugin_name}.sock"
    dockerd.run("run", "-d", "--name", container, "--network", "host",
                "-v", "/run/docker/plugins:/run/docker/plugins",
                "-v", "/run/ipamx-spy:/run/ipamx-spy",
                "-v", f"{recordings}:/recordings", "-v", f"{state}:/var/lib/ipamx-spy",
                image, "proxy", "--name", plugin_name, "--compact")
    try:
        wait_for_socket(socket, dockerd, container)
        dockerd.run("network", "create", "--ipam-driver", plugin_name,
                    "--subnet", "10.91.0.0/24", net)
        marked = subprocess.run([sys.executable, "-m", "ipamx_spy", "mark", "--name", plugin_name,
                                 "run a container"], capture_output=True, text=True, timeout=30)
        assert marked.returncode == 0, marked.stderr
        dockerd.run("run", "-d", "--net", net, "--name", f"{net}-a", IMAGE, "sleep", "600")
        assert dockerd.container_ip(f"{net}-a", net) == "10.91.0.2"
        dockerd.run("rm", "-f", f"{net}-a")
        dockerd.run("network", "rm", net)
    finally:
        dockerd.run("stop", "-t", "10", container, check=False)
        logs = dockerd.run("logs", container, check=False)
        dockerd.run("rm", "-f", container, check=False)
    assert not socket.exists()
    assert not control_path(plugin_name).exists()
    files = list(recordings.glob(f"ipamx-{plugin_name}-*.jsonl"))
    assert len(files) == 1, files
    rec = recording.load(files[0])
    endpoints = [e.endpoint for e in rec.exchanges]
    assert endpoints[:5 + len(dockerd.spaces_calls(activation=True)) - 1] == [
        "Plugin.Activate", "IpamDriver.GetCapabilities", *dockerd.spaces_calls(activation=True),
        "IpamDriver.RequestPool", "IpamDriver.RequestAddress"]
    assert endpoints[-1] == "IpamDriver.ReleasePool"
    assert [m["text"] for m in rec.markers()] == ["run a container"]
    assert all(e.status == 200 for e in rec.exchanges)
    assert (state / f"{plugin_name}.state.json").exists()
    assert "IpamDriver.RequestPool" in logs.stdout + logs.stderr
