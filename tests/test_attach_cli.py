"""`ipamx-spy attach` and `detach` as a user runs them, with a plugin already in use.

The plugin is the built-in one run by `ipamx-spy serve` (a "third-party" plugin for the spy),
and a PluginConnection stands in for dockerd (its keep-alive connection is the one dockerd
holds). The real dockerd drives the same commands in test_managed_plugin_e2e.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ipamx_spy import recording
from ipamx_spy.address import SOCKET_DIR, SPEC_DIRS, Address, resolve_name
from ipamx_spy.attach import fs
from ipamx_spy.client import PluginConnection, PluginNoAnswer, docker_request
from ipamx_spy.places import control_path, journal_path

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="attach works in /run/docker/plugins: needs root")

ACTIVATE = docker_request("Plugin.Activate")
POOL = docker_request("IpamDriver.RequestPool", b'{"AddressSpace":"LocalDefault",'
                      b'"Pool":"10.61.0.0/24","SubPool":"","Options":{},"V6":false}\n')


def spy_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ipamx_spy", *args], capture_output=True,
                          text=True, timeout=60)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@dataclass
class Plugin:
    name: str
    socket: Path
    inode: int
    process: subprocess.Popen[bytes]

    def connection(self) -> PluginConnection:
        return PluginConnection(Address(kind="unix", path=str(self.socket)), timeout=10)


@pytest.fixture
def plugin() -> Iterator[Plugin]:
    name = f"ipxat{uuid.uuid4().hex[:8]}"
    socket = SOCKET_DIR / f"{name}.sock"
    process = subprocess.Popen([sys.executable, "-m", "ipamx_spy", "serve", "--name", name,
                                "--state", "none"], stderr=subprocess.DEVNULL)
    wait_for(socket.exists, f"the plugin on {socket}")
    yield Plugin(name=name, socket=socket, inode=os.lstat(socket).st_ino, process=process)
    spy_cli("detach", name)  # first: the plugin removes its socket only if it is back
    process.terminate()
    process.wait(10)


@dataclass
class Spy:
    process: subprocess.Popen[str]
    recording: Path
    output: str = ""

    def stop(self, sig: int = signal.SIGTERM) -> str:
        self.process.send_signal(sig)
        out, _ = self.process.communicate(timeout=30)
        self.output += out
        return self.output

    def exchanges(self) -> list[str]:
        return [e.endpoint for e in recording.load(self.recording).exchanges]


def attach(plugin: Plugin, sockdir: Path, *extra: str) -> Spy:
    rec = sockdir / "attach.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "ipamx_spy", "attach", plugin.name, "--record", str(rec),
         "--quiet", "--docker-host", f"unix://{sockdir}/no-dockerd.sock", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)

    assert process.stdout is not None
    spy = Spy(process=process, recording=rec)
    while "listening on" not in spy.output:  # printed once attached, held connections handed over
        line = process.stdout.readline()
        if not line:
            raise AssertionError(f"attach exited:\n{spy.stop()}")
        spy.output += line
    journal = fs.read_journal(journal_path(plugin.name))
    assert journal is not None and os.lstat(plugin.socket).st_ino == journal.spy_inode
    return spy


def test_attach_hands_over_the_held_connection_records_and_puts_back_on_sigterm(
        plugin: Plugin, sockdir: Path) -> None:
    held = plugin.connection()
    assert held.call(ACTIVATE)[0].status == 200  # dockerd's connection, already in use
    spy = attach(plugin, sockdir)
    with pytest.raises(PluginNoAnswer):  # the plugin ended the held connection ...
        held.call(ACTIVATE)
    answer, _ = held.call(POOL)  # ... and dockerd's next connection reaches the spy
    assert answer.status == 200
    held.close()
    output = spy.stop()
    assert spy.process.returncode == 0, output
    assert "connections dockerd held to the plugin, handed over: 1" in output
    assert f"moved the plugin's socket back to {plugin.socket}" in output
    assert spy.exchanges() == ["IpamDriver.RequestPool"]
    assert os.lstat(plugin.socket).st_ino == plugin.inode
    assert not journal_path(plugin.name).exists()
    assert sorted(p.name for p in SOCKET_DIR.iterdir() if plugin.name in p.name) == \
        [f"{plugin.name}.sock"]
    with plugin.connection() as direct:
        assert direct.call(ACTIVATE)[0].status == 200


def test_after_kill_9_detach_puts_the_plugin_back(plugin: Plugin, sockdir: Path) -> None:
    spy = attach(plugin, sockdir)
    with plugin.connection() as through_spy:
        assert through_spy.call(ACTIVATE)[0].status == 200
    spy.stop(signal.SIGKILL)
    with plugin.connection() as dead, pytest.raises(PluginNoAnswer):
        dead.call(ACTIVATE)
    result = spy_cli("detach", plugin.name)
    assert result.returncode == 0, result.stderr
    assert f"moved the plugin's socket back to {plugin.socket}" in result.stderr
    assert os.lstat(plugin.socket).st_ino == plugin.inode
    assert not control_path(plugin.name).exists()
    with plugin.connection() as direct:
        assert direct.call(ACTIVATE)[0].status == 200
    assert spy.exchanges() == ["Plugin.Activate"]
    again = spy_cli("detach", plugin.name)
    assert (again.returncode, "nothing to do" in again.stderr) == (0, True)


def test_detach_stops_a_running_spy_which_restores_itself(plugin: Plugin,
                                                          sockdir: Path) -> None:
    spy = attach(plugin, sockdir)
    result = spy_cli("detach", plugin.name)
    assert result.returncode == 0, result.stderr
    assert "detached from" in result.stderr and "itself" in result.stderr
    assert spy.process.wait(10) == 0
    assert os.lstat(plugin.socket).st_ino == plugin.inode


def test_a_second_attach_is_refused_and_a_stale_journal_needs_detach(
        plugin: Plugin, sockdir: Path) -> None:
    spy = attach(plugin, sockdir)
    second = spy_cli("attach", plugin.name, "--docker-host", f"unix://{sockdir}/none.sock")
    assert second.returncode == 2
    assert f"(pid {spy.process.pid}) is already attached to {plugin.name}" in second.stderr
    spy.stop(signal.SIGKILL)
    stale = spy_cli("attach", plugin.name, "--docker-host", f"unix://{sockdir}/none.sock")
    assert stale.returncode == 2
    assert f"run `ipamx-spy detach {plugin.name}` first" in stale.stderr


def test_without_handover_the_held_connection_stays_with_the_plugin(
        plugin: Plugin, sockdir: Path) -> None:
    held = plugin.connection()
    assert held.call(ACTIVATE)[0].status == 200
    spy = attach(plugin, sockdir, "--no-handover")
    assert held.call(POOL)[0].status == 200  # answered by the plugin directly
    held.close()
    spy.stop()
    assert spy.exchanges() == []


def test_attach_to_a_plugin_that_does_not_exist_says_where_it_looked(sockdir: Path) -> None:
    result = spy_cli("attach", "ipxat-none", "--docker-host", f"unix://{sockdir}/none.sock")
    assert result.returncode == 2
    assert "no plugin ipxat-none: no ipxat-none.sock in /run/docker/plugins" in result.stderr
    assert f"cannot ask dockerd about managed plugins: dockerd at unix://{sockdir}/none.sock" \
        in result.stderr
    assert not journal_path("ipxat-none").exists()


class _Activate(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = b'{"Implements":["IpamDriver"]}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_a_tcp_plugin_spec_file_points_at_the_spy_and_is_written_back(sockdir: Path) -> None:
    name = f"ipxat{uuid.uuid4().hex[:8]}"
    tcp_plugin = ThreadingHTTPServer(("127.0.0.1", 0), _Activate)
    threading.Thread(target=tcp_plugin.serve_forever, args=(0.01,), daemon=True).start()
    spec = SPEC_DIRS[0] / f"{name}.spec"
    made_dir = not spec.parent.exists()
    spec.parent.mkdir(parents=True, exist_ok=True)
    original = f"tcp://127.0.0.1:{tcp_plugin.server_address[1]}\n"
    spec.write_text(original)
    try:
        rec = sockdir / "tcp.jsonl"
        process = subprocess.Popen(
            [sys.executable, "-m", "ipamx_spy", "attach", name, "--record", str(rec), "--quiet",
             "--docker-host", f"unix://{sockdir}/none.sock"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        spy = Spy(process=process, recording=rec)
        assert process.stdout is not None
        while "listening on" not in spy.output:
            line = process.stdout.readline()
            assert line, spy.stop()
            spy.output += line
        assert spec.read_text() == f"unix:///run/ipamx-spy/{name}.sock\n"
        with PluginConnection(resolve_name(name), timeout=10) as dockerd_like:
            assert dockerd_like.call(ACTIVATE)[0].body == b'{"Implements":["IpamDriver"]}'
        output = spy.stop()
        assert spy.process.returncode == 0, output
        assert f"wrote the original address back into {spec}" in output
        assert spec.read_text() == original
        assert spy.exchanges() == ["Plugin.Activate"]
        assert not Path(f"/run/ipamx-spy/{name}.sock").exists()
    finally:
        spec.unlink(missing_ok=True)
        if made_dir:
            spec.parent.rmdir()
        tcp_plugin.shutdown()
        tcp_plugin.server_close()
