"""ipamx_spy.attach.handover: held connections finish their exchange, then come back anew."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ipamx_spy.address import Address
from ipamx_spy.attach.handover import accepted_sockets, hand_over, holders
from ipamx_spy.client import PluginConnection, PluginNoAnswer, docker_request

ACTIVATE = docker_request("Plugin.Activate")


@pytest.fixture
def listener(sockdir: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(sockdir / "plugin.sock"))
    sock.listen(8)
    yield sock
    sock.close()


def connected_pair(listener: socket.socket) -> tuple[socket.socket, socket.socket]:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.settimeout(5)
    client.connect(listener.getsockname())
    accepted, _ = listener.accept()
    accepted.settimeout(5)
    return client, accepted


def test_only_the_accepted_ends_of_the_plugins_connections_are_found(
        sockdir: Path, listener: socket.socket) -> None:
    pairs = [connected_pair(listener) for _ in range(3)]
    other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    other.bind(str(sockdir / "other.sock"))
    found = accepted_sockets(sockdir / "plugin.sock")
    assert found == {_inode(accepted) for _, accepted in pairs}
    located = holders(found)
    assert {fd for _, fd in located.values()} == {accepted.fileno() for _, accepted in pairs}
    for client, accepted in pairs:
        client.close()
        accepted.close()
    other.close()


def _inode(sock: socket.socket) -> int:
    return int(Path(f"/proc/self/fd/{sock.fileno()}").readlink().name[8:-1])


def test_a_request_already_sent_is_still_answered_then_the_connection_ends(
        sockdir: Path, listener: socket.socket) -> None:
    client, accepted = connected_pair(listener)
    client.sendall(b"request in flight")
    result = hand_over(sockdir / "plugin.sock")
    assert (result.closed, result.failed) == (1, ())
    assert accepted.recv(100) == b"request in flight"
    assert accepted.recv(100) == b""  # the plugin sees the end of the connection ...
    accepted.sendall(b"answer")  # ... but still answers what it read
    assert client.recv(100) == b"answer"
    with pytest.raises(BrokenPipeError):  # a request written now fails before a byte is sent
        client.sendall(b"next request")
    accepted.close()
    assert client.recv(100) == b""
    client.close()


def test_no_connections_means_nothing_to_do(sockdir: Path, listener: socket.socket) -> None:
    assert hand_over(sockdir / "plugin.sock").closed == 0


def test_a_missing_socket_is_reported_not_raised(sockdir: Path) -> None:
    result = hand_over(sockdir / "gone.sock")
    assert result.closed == 0
    assert "cannot list the plugin's connections" in result.failed[0]


def test_a_real_plugin_closes_the_held_connection_and_serves_a_new_one(sockdir: Path) -> None:
    path = sockdir / "p.sock"
    plugin = subprocess.Popen([sys.executable, "-m", "ipamx_spy", "serve", "--listen", str(path),
                               "--state", "none"], stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        held = PluginConnection(Address(kind="unix", path=str(path)), timeout=10)
        assert held.call(ACTIVATE)[0].status == 200
        assert hand_over(path).closed == 1
        with pytest.raises(PluginNoAnswer):
            held.call(ACTIVATE)
        assert held.call(ACTIVATE)[0].status == 200  # a new connection
        held.close()
    finally:
        plugin.terminate()
        plugin.wait(10)
