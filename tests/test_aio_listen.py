"""Listening sockets: a busy plugin is never taken for stale; the backlog follows SOMAXCONN."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ipamx_spy.aio.listen import SocketInUse, bind_unix, someone_listens


def connect_many(path: Path, count: int) -> tuple[list[socket.socket], bool]:
    """Up to ``count`` non-blocking connects nobody accepts; True when the backlog filled."""
    clients = []
    for _ in range(count):
        client = socket.socket(socket.AF_UNIX)
        client.setblocking(False)
        clients.append(client)
        try:
            client.connect(str(path))
        except BlockingIOError:
            return clients, True
    return clients, False


def test_a_busy_socket_with_a_full_backlog_is_never_replaced(sockdir: Path) -> None:
    path = sockdir / "busy.sock"
    busy = socket.socket(socket.AF_UNIX)
    busy.bind(str(path))
    busy.listen(0)  # a plugin that stopped accepting: its backlog fills at once
    clients, full = connect_many(path, 64)
    try:
        assert full, "the backlog never filled"
        assert someone_listens(path)
        with pytest.raises(SocketInUse):
            bind_unix(path)
        assert path.exists()
    finally:
        for client in clients:
            client.close()
        busy.close()


def test_only_a_refused_connect_means_stale(sockdir: Path) -> None:
    path = sockdir / "stale.sock"
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(str(path))
    stale.close()
    assert not someone_listens(path)
    assert not someone_listens(sockdir / "missing.sock")


def test_listen_backlog_takes_a_burst_of_300_connects(sockdir: Path) -> None:
    listener = bind_unix(sockdir / "spy.sock")
    clients, full = connect_many(listener.path, 300)
    for client in clients:
        client.close()
    listener.close()
    assert not full and len(clients) == 300
