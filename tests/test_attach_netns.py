"""``attach`` when dockerd runs in a network namespace of its own (docker-in-docker, rootless
Docker, ``ip netns exec``): the plugin's ends of dockerd's connections live in dockerd's
namespace, where a search of the spy's own namespace does not see them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_env import PLUGIN_DIR, start_dockerd, stop_dockerd, unmount_below

from ipamx_spy import recording
from ipamx_spy.attach import handover
from ipamx_spy.attach.handover import Namespace, accepted_everywhere, hand_over

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"ipxns{uuid.uuid4().hex[:8]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    yield name
    subprocess.run(["ip", "netns", "del", name], check=False)


@pytest.fixture
def listener(sockdir: Path) -> Iterator[tuple[Path, socket.socket]]:
    path = sockdir / "p.sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()
    yield path, server
    server.close()


def connect_from(netns: str, path: Path) -> subprocess.Popen[str]:
    """A process in ``netns`` that connects to ``path`` and keeps the connection."""
    code = ("import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
            "print('connected', flush=True); print(repr(s.recv(1)), flush=True); sys.stdin.read()")
    process = subprocess.Popen(["ip", "netns", "exec", netns, sys.executable, "-c", code,
                                str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True)
    assert process.stdout is not None and process.stdout.readline() == "connected\n"
    return process


def test_a_connection_from_another_network_namespace_is_found_and_handed_over(
        netns: str, listener: tuple[Path, socket.socket]) -> None:
    path, server = listener
    client = connect_from(netns, path)
    try:
        accepted, _ = server.accept()
        found, unsearched = accepted_everywhere(path)
        assert unsearched == []
        [(inode, namespace)] = found.items()
        assert inode == os.fstat(accepted.fileno()).st_ino
        assert namespace is not None
        assert namespace.name == os.readlink(f"/proc/{client.pid}/ns/net")
        result = hand_over(path)
        assert result.closed == 1 and result.failed == ()
        assert result.elsewhere == (f"1 from {namespace.described}",)
        assert accepted.recv(1) == b""  # the plugin's side reads the end: it closes
        accepted.close()
        assert client.stdout is not None and client.stdout.readline() == "b''\n"
    finally:
        client.kill()
        client.wait(10)


def test_a_namespace_that_cannot_be_searched_is_reported(
        netns: str, listener: tuple[Path, socket.socket], monkeypatch: pytest.MonkeyPatch) -> None:
    path, server = listener
    client = connect_from(netns, path)

    def refused(pid: int, work: object) -> object:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(handover, "in_network_namespace", refused)
    try:
        server.accept()
        result = hand_over(path)
        assert result.closed == 0
        mine = f"/proc/{client.pid}/ns/net"
        assert any(f"in network namespace {os.readlink(mine)} for connections to the plugin: "
                   "Operation not permitted" in line for line in result.failed), result.failed
    finally:
        client.kill()
        client.wait(10)


def test_namespaces_are_named_by_their_dockerd(tmp_path: Path) -> None:
    proc = tmp_path
    for pid, comm, net in [(10, "containerd-shim", "net:[1]"), (11, "dockerd", "net:[1]"),
                           (12, "sleep", "net:[2]")]:
        (proc / str(pid) / "ns").mkdir(parents=True)
        (proc / str(pid) / "comm").write_text(comm + "\n")
        (proc / str(pid) / "ns" / "net").symlink_to(net)
    assert sorted(handover.network_namespaces(proc), key=lambda n: n.name) == [
        Namespace(name="net:[1]", pid=11, process="dockerd (pid 11)"),
        Namespace(name="net:[2]", pid=12, process="sleep (pid 12)")]


@pytest.mark.docker
def test_attach_records_a_dockerd_that_runs_in_its_own_network_namespace(
        netns: str, sockdir: Path) -> None:
    """dockerd in its own namespace holds a connection to the plugin; attach hands it over,
    says from where, and the next docker command is recorded."""
    name = f"ipxns{uuid.uuid4().hex[:8]}"
    plugin = subprocess.Popen([sys.executable, "-m", "ipamx_spy", "serve", "--name", name,
                               "--state", "none"], stderr=subprocess.DEVNULL)
    work = Path(tempfile.mkdtemp(prefix="ipxns-", dir="/tmp"))
    docker = None
    rec = sockdir / "attach.jsonl"
    try:
        socket_file = PLUGIN_DIR / f"{name}.sock"
        deadline = time.monotonic() + 30
        while not socket_file.exists():  # the plugin binds within a few seconds
            assert time.monotonic() < deadline and plugin.poll() is None, "no plugin socket"
            time.sleep(0.05)
        docker = start_dockerd(work / "d", netns=netns)
        docker.run("network", "create", "--ipam-driver", name, "--subnet", "10.91.0.0/24", "n1")
        spy = subprocess.Popen(
            [sys.executable, "-m", "ipamx_spy", "attach", name, "--record", str(rec), "--quiet",
             "--docker-host", f"unix://{docker.socket}"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert spy.stdout is not None
        output = ""
        while "listening on" not in output:
            line = spy.stdout.readline()
            assert line, f"attach exited:\n{output}"
            output += line
        docker.run("network", "create", "--ipam-driver", name, "--subnet", "10.92.0.0/24", "n2")
        spy.send_signal(signal.SIGTERM)
        output += spy.communicate(timeout=30)[0]
        docker.run("network", "rm", "n1", "n2")
    finally:
        if docker is not None:
            stop_dockerd(docker)
        unmount_below(work)
        subprocess.run(["rm", "-rf", str(work)], check=False)
        plugin.terminate()
        plugin.wait(10)
    assert "connections dockerd held to the plugin, handed over: 1 (1 from dockerd (pid " \
        in output and ") in network namespace net:[" in output, output
    endpoints = [e.endpoint for e in recording.load(rec).exchanges]
    assert "IpamDriver.RequestPool" in endpoints, output
