"""End to end on every real dockerd of the matrix: `ipamx-spy attach` steps in front of a legacy
plugin (a socket in /run/docker/plugins) that dockerd already uses, takes over the keep-alive
connection dockerd holds, records what the next docker command sends, and puts the plugin back
when it stops. The managed-plugin case is test_managed_plugin_e2e.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_env import PLUGIN_DIR, Docker, run_until, stop_until_done

from ipamx_spy import recording

pytestmark = pytest.mark.docker


@pytest.fixture
def legacy(dockerd: Docker, plugin_name: str) -> Iterator[Path]:
    """``ipamx-spy serve`` as the legacy plugin ``plugin_name``; its socket."""
    socket = PLUGIN_DIR / f"{plugin_name}.sock"
    served, output = run_until(dockerd, ["serve", "--name", plugin_name, "--listen",
                                         str(socket), "--state", "none", "--docker-compat",
                                         dockerd.version], "serving the built-in plugin")
    try:
        yield socket
    finally:
        for net in dockerd.run("network", "ls", "-q", "--filter",
                               f"name={plugin_name}").stdout.split():
            dockerd.run("network", "rm", net, check=False)
        stop_until_done(served, output)
        socket.unlink(missing_ok=True)


def test_attach_takes_over_a_legacy_plugin_and_puts_it_back(
        dockerd: Docker, plugin_name: str, legacy: Path, sockdir: Path) -> None:
    dockerd.run("network", "create", "--ipam-driver", plugin_name, "--subnet", "10.94.0.0/24",
                f"{plugin_name}-before")  # activates the plugin; dockerd keeps the connection
    inode = os.lstat(legacy).st_ino
    rec = sockdir / "attached.jsonl"
    attached, output = run_until(dockerd, ["attach", plugin_name, "--record", str(rec),
                                           "--quiet"], "listening on")
    try:
        assert f"legacy plugin socket {legacy}" in output
        assert "connections dockerd held to the plugin, handed over: 1" in output
        dockerd.run("network", "create", "--ipam-driver", plugin_name, "--subnet",
                    "10.94.1.0/24", f"{plugin_name}-during")
    finally:
        output = stop_until_done(attached, output)
    assert attached.returncode == 0, output
    during = [*dockerd.spaces_calls(activation=False), "IpamDriver.RequestPool",
              "IpamDriver.RequestAddress"]
    exchanges = recording.load(rec).exchanges
    assert [e.endpoint for e in exchanges] == during
    assert all(e.response is not None and e.response.status == 200 for e in exchanges)
    assert os.lstat(legacy).st_ino == inode
    assert [n for n in os.listdir(legacy.parent) if n.startswith(f".{plugin_name}")] == []
    dockerd.run("network", "create", "--ipam-driver", plugin_name, "--subnet", "10.94.2.0/24",
                f"{plugin_name}-after")  # the plugin itself again, unrecorded
    assert len(recording.load(rec).exchanges) == len(during)
