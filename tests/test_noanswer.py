"""No answer from a plugin: every layer says why with a ``NoAnswerKind``, never by its text."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from ipamx_spy import dockerd
from ipamx_spy.address import Address
from ipamx_spy.client import PluginConnection, PluginNoAnswer, docker_request
from ipamx_spy.emulator.driver import EmulatorNoAnswer, EmulatorSocketTarget
from ipamx_spy.noanswer import NoAnswerKind
from ipamx_spy.recording import Message
from ipamx_spy.replay.target import Outgoing, ReplayNoAnswer, ReplaySocketTarget

REQUEST = docker_request("IpamDriver.GetCapabilities")
RECORDED = Message(method="POST", target="/IpamDriver.GetCapabilities",
                   headers=tuple(tuple(line.split(": ", 1))  # type: ignore[misc]
                                 for line in REQUEST.decode().split("\r\n")[1:] if line),
                   body={"encoding": "empty"})


class Silent:
    """A plugin socket taking one connection: it reads one request, then closes the connection
    (``hold=False``) or holds it unanswered."""

    def __init__(self, path: Path, *, hold: bool) -> None:
        self.hold = hold
        self.release = threading.Event()
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(4)
        self.thread = threading.Thread(target=self._serve, name="silent-plugin", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.server.accept()
        with conn:
            conn.recv(65536)
            if self.hold:
                self.release.wait(10)

    def close(self) -> None:
        self.release.set()
        self.server.close()
        self.thread.join(10)


def _address(path: Path) -> Address:
    return Address(kind="unix", path=str(path))


def test_the_client_says_absent_closed_and_stalled_by_kind(sockdir: Path) -> None:
    with pytest.raises(PluginNoAnswer) as absent:
        PluginConnection(_address(sockdir / "absent.sock"), timeout=5).call(REQUEST)
    assert absent.value.kind is NoAnswerKind.UNREACHABLE and not absent.value.kind.sent
    assert absent.value.reason == "No such file or directory"
    closing = Silent(sockdir / "closing.sock", hold=False)
    holding = Silent(sockdir / "holding.sock", hold=True)
    try:
        with pytest.raises(PluginNoAnswer) as closed:
            PluginConnection(_address(sockdir / "closing.sock"), timeout=5).call(REQUEST)
        with pytest.raises(PluginNoAnswer) as stalled:
            PluginConnection(_address(sockdir / "holding.sock"), timeout=0.2).call(REQUEST)
    finally:
        closing.close()
        holding.close()
    assert closed.value.kind is NoAnswerKind.CLOSED and closed.value.kind.sent
    assert stalled.value.kind is NoAnswerKind.TIMEOUT


def test_replay_takes_the_kind_from_the_client(sockdir: Path) -> None:
    outgoing = Outgoing(conn=1, endpoint="IpamDriver.GetCapabilities", method="POST",
                        body=b"", recorded=RECORDED)
    assert outgoing.raw == REQUEST
    with pytest.raises(ReplayNoAnswer) as absent:
        ReplaySocketTarget(_address(sockdir / "absent.sock"), timeout=5).exchange(outgoing)
    assert absent.value.kind is NoAnswerKind.UNREACHABLE
    closing = Silent(sockdir / "closing.sock", hold=False)
    target = ReplaySocketTarget(_address(sockdir / "closing.sock"), timeout=5)
    try:
        with pytest.raises(ReplayNoAnswer) as closed:
            target.exchange(outgoing)
    finally:
        target.close()
        closing.close()
    assert closed.value.kind is NoAnswerKind.CLOSED and "PROTOCOL.md 1.6" in closed.value.message


def test_the_emulator_says_what_gos_client_says_and_whether_it_was_sent(sockdir: Path) -> None:
    missing = sockdir / "absent.sock"
    with pytest.raises(EmulatorNoAnswer) as absent:
        EmulatorSocketTarget(_address(missing)).send(REQUEST, "IpamDriver.GetCapabilities", b"")
    assert absent.value.kind is NoAnswerKind.UNREACHABLE and not absent.value.sent
    assert absent.value.text == f"dial unix {missing}: connect: no such file or directory"
    closing = Silent(sockdir / "closing.sock", hold=False)
    target = EmulatorSocketTarget(_address(sockdir / "closing.sock"))
    try:
        with pytest.raises(EmulatorNoAnswer) as closed:
            target.send(REQUEST, "IpamDriver.GetCapabilities", b"")
    finally:
        target.close()
        closing.close()
    assert closed.value.kind is NoAnswerKind.CLOSED and closed.value.sent
    assert closed.value.text == "EOF"


def test_no_layer_matches_the_message_text() -> None:
    root = Path(__file__).resolve().parent.parent / "ipamx_spy"
    sources = {p: p.read_text() for p in (root / "replay" / "target.py",
                                          root / "emulator" / "driver.py")}
    for path, text in sources.items():
        assert "in str(exc)" not in text and "str(exc).startswith" not in text, path
        assert "text.startswith(" not in text, path


def test_each_kind_maps_onto_the_authoritys_two_cases() -> None:
    assert NoAnswerKind.UNREACHABLE.dockerd is dockerd.NoAnswer.REFUSED
    sent = [kind for kind in NoAnswerKind if kind is not NoAnswerKind.UNREACHABLE]
    assert all(kind.sent and kind.dockerd is dockerd.NoAnswer.CLOSED for kind in sent)
