"""End to end: `ipamx-spy plugin build` makes a managed plugin the real dockerd enables; a
network and a container work through it; `ipamx-spy attach` records in front of it and steps
back.

PROTOCOL.md 1.1: a managed plugin gets no Plugin.Activate, and its socket is
/run/docker/plugins/<id>/<socket>. dockerd registers its drivers under the full name, so the
commands say `-d NAME:latest --ipam-driver NAME:latest`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_env import IMAGE, PLUGIN_DIR, Docker, run_until, stop_until_done
from test_image_e2e import build_image

from ipamx_spy import recording

# The plugin is built from the Dockerfile's image (slow on vfs): the oldest and newest daemon.
pytestmark = [pytest.mark.docker, pytest.mark.dockerd("20.10", "28.5")]


def spy(docker: Docker, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ipamx_spy", *args], env=docker.env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def managed(dockerd: Docker, plugin_name: str, sockdir: Path) -> Iterator[str]:
    """Managed plugin ``plugin_name``, enabled, its state and recordings in ``sockdir``."""
    image = build_image(dockerd)
    built = spy(dockerd, "plugin", "build", "--image", image, "--name", plugin_name,
                "--no-enable")
    assert built.returncode == 0, built.stderr
    dockerd.run("plugin", "set", plugin_name, f"state.source={sockdir}")
    dockerd.run("plugin", "enable", plugin_name)
    yield built.stdout.strip()
    containers = dockerd.run("ps", "-aq", "--filter", f"name={plugin_name}").stdout.split()
    if containers:
        dockerd.run("rm", "-f", *containers, check=False)
    for net in dockerd.run("network", "ls", "-q", "--filter", f"name={plugin_name}").stdout.split():
        dockerd.run("network", "rm", net, check=False)
    dockerd.run("plugin", "rm", "-f", plugin_name, check=False)


def test_a_network_and_a_container_work_through_the_managed_plugin(
        dockerd: Docker, plugin_name: str, managed: str, sockdir: Path) -> None:
    full, net = f"{plugin_name}:latest", f"{plugin_name}-net"
    listed = dockerd.inspect("plugin", "inspect", plugin_name)[0]
    assert (listed["Id"], listed["Enabled"]) == (managed, True)
    assert (PLUGIN_DIR / managed / "ipamx.sock").exists()
    dockerd.run("network", "create", "-d", full, "--ipam-driver", full,
                "--subnet", "10.92.0.0/24", net)
    dockerd.run("run", "-d", "--net", net, "--name", f"{net}-a", IMAGE, "sleep", "600")
    assert dockerd.container_ip(f"{net}-a", net) == "10.92.0.2"
    addresses = dockerd.run("exec", f"{net}-a", "ip", "-4", "addr").stdout
    assert "10.92.0.2/24" in addresses
    dockerd.run("rm", "-f", f"{net}-a")
    dockerd.run("network", "rm", net)
    files = list((sockdir / "recordings").glob("*.jsonl"))
    assert len(files) == 1
    endpoints = [e.endpoint for e in recording.load(files[0]).exchanges]
    assert "Plugin.Activate" not in endpoints  # managed plugins are not activated
    assert {"NetworkDriver.CreateNetwork", "IpamDriver.RequestPool", "NetworkDriver.Join",
            "IpamDriver.ReleasePool", "NetworkDriver.DeleteNetwork"} <= set(endpoints)


def test_the_spy_attaches_to_the_managed_plugin_and_steps_back(
        dockerd: Docker, plugin_name: str, managed: str, sockdir: Path) -> None:
    full = f"{plugin_name}:latest"
    socket = PLUGIN_DIR / managed / "ipamx.sock"
    dockerd.run("network", "create", "-d", full, "--ipam-driver", full,
                "--subnet", "10.93.0.0/24", f"{plugin_name}-before")  # dockerd holds a connection
    inode = os.lstat(socket).st_ino
    rec = sockdir / "attached.jsonl"
    attached, output = run_until(dockerd, ["attach", plugin_name, "--record", str(rec),
                                           "--quiet"], "listening on")
    try:
        assert f"managed plugin {full} (id {managed[:12]})" in output
        assert "connections dockerd held to the plugin, handed over: 1" in output
        dockerd.run("network", "create", "-d", full, "--ipam-driver", full,
                    "--subnet", "10.93.1.0/24", f"{plugin_name}-during")
    finally:
        output = stop_until_done(attached, output)
    assert attached.returncode == 0, output
    during = [*dockerd.spaces_calls(activation=False), "IpamDriver.RequestPool",
              "IpamDriver.RequestAddress", "NetworkDriver.CreateNetwork"]
    assert [e.endpoint for e in recording.load(rec).exchanges] == during
    assert os.lstat(socket).st_ino == inode
    assert [n for n in os.listdir(socket.parent) if n.startswith(".")] == []
    dockerd.run("network", "create", "-d", full, "--ipam-driver", full,
                "--subnet", "10.93.2.0/24", f"{plugin_name}-after")
    assert len(recording.load(rec).exchanges) == len(during)
