"""``ipamx-spy drive``: the emulator against a Unix socket, in-process, and its CLI."""

from __future__ import annotations

import random
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ipamx_spy import tap
from ipamx_spy.address import Address
from ipamx_spy.app import PluginApp
from ipamx_spy.cli import app
from ipamx_spy.client import docker_request
from ipamx_spy.dockerd.versions import VERSION_ROWS
from ipamx_spy.emulator import scenario
from ipamx_spy.emulator.daemon import Daemon
from ipamx_spy.emulator.driver import EmulatorSession, EmulatorSocketTarget, url_host
from ipamx_spy.emulator.probe import ProbePlugin
from ipamx_spy.recording import load
from ipamx_spy.validate import check_recording

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
runner = CliRunner()


class SocketPlugin:
    """Serves a plugin app on a Unix socket; ``hang_up`` drops chosen requests unanswered."""

    def __init__(self, path: Path, plugin: PluginApp,
                 hang_up: Callable[[str], bool] = lambda _endpoint: False) -> None:
        self.plugin = plugin
        self.hang_up = hang_up
        self.requests: list[bytes] = []
        self.connections = 0
        self.server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.server.bind(str(path))
        self.server.listen(8)
        self.thread = threading.Thread(target=self._accept, name="socket-plugin", daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.connections += 1
            with conn:
                self._serve(conn)

    def _serve(self, conn: socket.socket) -> None:
        parser = tap.RequestTap()
        while True:
            message = parser.next_message()
            if message is tap.NEED_DATA:
                data = conn.recv(65536)
                parser.feed(data)
                continue
            if not isinstance(message, tap.WireMessage):
                return
            self.requests.append(message.raw)
            endpoint = message.target.lstrip("/")
            if self.hang_up(endpoint):
                return
            reply = self.plugin.handle(endpoint, message.body)
            conn.sendall(f"HTTP/1.1 {reply.status} OK\r\nContent-Type: {reply.content_type}\r\n"
                         f"Content-Length: {len(reply.body)}\r\n\r\n".encode() + reply.body)
            parser.answered(keep_alive=True)

    def close(self) -> None:
        self.server.close()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="ipx5-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_drive_over_a_socket_sends_dockerds_bytes(short_dir: Path) -> None:
    sock = short_dir / "p.sock"
    server = SocketPlugin(sock, ProbePlugin())
    record = short_dir / "out.jsonl"
    try:
        result = runner.invoke(app, ["drive", str(SCENARIOS / "netdriver-lifecycle.scenario"),
                                     "--target", str(sock), "--record", str(record),
                                     "--seed", "5", "--no-host-routes"])
    finally:
        server.close()
    assert result.exit_code == 0, result.output
    assert "$ docker network create -d ipamx" in result.output
    rec = load(record)
    assert rec.header["docker_version"] == "20.10" and rec.header["source"] == "ipamx-spy drive"
    assert [e.request.raw() for e in rec.exchanges] == server.requests
    assert server.connections == 1  # one keep-alive connection, as dockerd
    assert server.requests[0] == docker_request("Plugin.Activate", host="")
    assert [r["text"] for r in rec.markers()][0].startswith("docker network create")
    assert [f for f in check_recording(rec) if f.severity == "error"] == []


def test_newer_daemons_send_the_dummy_host(short_dir: Path) -> None:
    sock = short_dir / "p.sock"
    server = SocketPlugin(sock, ProbePlugin())
    try:
        result = runner.invoke(app, ["drive", str(SCENARIOS / "talk.scenario"), "--target",
                                     f"unix://{sock}", "--docker-version", "29.1.3"])
    finally:
        server.close()
    assert result.exit_code == 0, result.output
    assert all(b"\r\nHost: plugin.moby.localhost\r\n" in r for r in server.requests)


def session(target: EmulatorSocketTarget, sleeps: list[float]) -> EmulatorSession:
    version = VERSION_ROWS["20.10"]
    daemon = Daemon(version, rng=random.Random(1), url_host=url_host(version, target.address))
    return EmulatorSession(daemon, target, sleep=sleeps.append)


def test_a_hang_up_is_retried_with_an_empty_body(short_dir: Path) -> None:
    sock = short_dir / "p.sock"
    dropped: list[str] = []

    def once(endpoint: str) -> bool:
        if endpoint == "IpamDriver.RequestPool" and not dropped:
            dropped.append(endpoint)
            return True
        return False

    server = SocketPlugin(sock, ProbePlugin(), hang_up=once)
    sleeps: list[float] = []
    driver = session(EmulatorSocketTarget(Address(kind="unix", path=str(sock))), sleeps)
    try:
        [step] = scenario.parse("docker network create --ipam-driver ipamx --subnet "
                                "10.4.4.0/24 n")
        result = driver.play(step)
    finally:
        driver.close()
        server.close()
    pools = [r for r in server.requests if r.startswith(b"POST /IpamDriver.RequestPool")]
    assert len(pools) == 2 and sleeps == [1.0]
    assert pools[1].endswith(b"Content-Length: 0\r\nAccept: "
                             b"application/vnd.docker.plugins.v1.2+json\r\n\r\n")
    # the probe takes the empty retry as zero values, i.e. "any pool": the hazard of §1.6
    gateway = next(r for r in server.requests if r.startswith(b"POST /IpamDriver.RequestAddress"))
    assert b'"PoolID":"probe/10.250.1.0/24"' in gateway and result.outcome.exit_code == 0
    assert server.connections == 2


def test_an_absent_plugin_fails_after_dockerds_retries(short_dir: Path) -> None:
    sleeps: list[float] = []
    missing = short_dir / "absent.sock"
    driver = session(EmulatorSocketTarget(Address(kind="unix", path=str(missing))), sleeps)
    [step] = scenario.parse("docker network create --ipam-driver ipamx n")
    result = driver.play(step)
    assert sleeps == [1.0, 2.0, 4.0, 8.0]
    quoted = str(missing).replace("/", "%2F")
    assert result.outcome.stderr == (
        f'Error response from daemon: legacy plugin: Post "http://{quoted}/Plugin.Activate": '
        f"dial unix {missing}: connect: no such file or directory",)


def test_builtin_target_and_validation() -> None:
    result = runner.invoke(app, ["drive", str(SCENARIOS / "talk.scenario"), "--target",
                                 "builtin", "--check", "-x"])
    assert result.exit_code == 0, result.output
    assert "IpamDriver.RequestPool" in result.output and "IPX" not in result.output


def test_expected_failures_decide_the_exit_code(tmp_path: Path) -> None:
    good = tmp_path / "good.scenario"
    good.write_text("! docker network rm nothere\n")
    bad = tmp_path / "bad.scenario"
    bad.write_text("docker network rm nothere\n")
    assert runner.invoke(app, ["drive", str(good), "--target", "builtin"]).exit_code == 0
    failed = runner.invoke(app, ["drive", str(bad), "--target", "builtin"])
    assert failed.exit_code == 1
    assert "Error response from daemon: network nothere not found" in failed.output


def test_unusable_input_exits_2(tmp_path: Path) -> None:
    broken = tmp_path / "broken.scenario"
    broken.write_text("docker swarm update\n")
    talk = str(SCENARIOS / "talk.scenario")
    assert runner.invoke(app, ["drive", str(broken), "--target", "builtin"]).exit_code == 2
    assert runner.invoke(app, ["drive", talk, "--target", "builtin",
                               "--docker-version", "18.09"]).exit_code == 2
    # Without --target, drive plays against the built-in plugin, as replay does.
    assert runner.invoke(app, ["drive", talk]).exit_code == 0
    assert runner.invoke(app, ["drive", talk, "--target", "https://x:1"]).exit_code == 2


def test_compare_option(tmp_path: Path) -> None:
    talk = str(SCENARIOS / "talk.scenario")
    capture = SCENARIOS / "captures" / "talk.jsonl"
    same = runner.invoke(app, ["drive", talk, "--compare", str(capture)])
    assert same.exit_code == 0 and "equal the recording byte for byte" in same.output
    changed = tmp_path / "changed.jsonl"
    changed.write_text(capture.read_text().replace('"Address":"10.4.4.21"', '"Address":"10.4.4.9"'))
    different = runner.invoke(app, ["drive", talk, "--compare", str(changed)])
    assert different.exit_code == 1 and "emulated" in different.output


def endpoints_sent(server: SocketPlugin) -> list[str]:
    return [r.split(b" ", 2)[1].decode().lstrip("/") for r in server.requests]


def test_a_global_scope_driver_on_a_standalone_20_10_is_refused_and_rolled_back(
        short_dir: Path) -> None:
    """tests/captures/global-scope.jsonl: dockerd 20.10.24 calls CreateNetwork, then refuses
    and undoes it (DeleteNetwork, ReleaseAddress, ReleasePool); drive says what docker said."""
    sock = short_dir / "p.sock"
    server = SocketPlugin(sock, ProbePlugin(scope="global"))
    try:
        result = runner.invoke(app, ["drive", str(SCENARIOS / "global-scope.scenario"),
                                     "--target", str(sock)])
    finally:
        server.close()
    assert result.exit_code == 0, result.output  # the scenario expects the failure
    assert ('Error response from daemon: This node is not a swarm manager. Use "docker swarm '
            'init" or "docker swarm join" to connect this node to swarm and try again.'
            ) in " ".join(result.output.split())
    assert endpoints_sent(server)[-4:] == [
        "NetworkDriver.CreateNetwork", "NetworkDriver.DeleteNetwork",
        "IpamDriver.ReleaseAddress", "IpamDriver.ReleasePool"]


@pytest.mark.parametrize("version", ["26.1.5", "28.5.2"])
def test_newer_daemons_create_a_global_scope_network_outside_swarm(
        short_dir: Path, version: str) -> None:
    sock = short_dir / "p.sock"
    server = SocketPlugin(sock, ProbePlugin(scope="global"))
    try:
        result = runner.invoke(app, ["drive", str(SCENARIOS / "global-scope-accepted.scenario"),
                                     "--target", str(sock), "--docker-version", version])
    finally:
        server.close()
    assert result.exit_code == 0, result.output
    sent = endpoints_sent(server)
    assert "NetworkDriver.DeleteNetwork" in sent
    assert sent.index("NetworkDriver.DeleteNetwork") > sent.index("IpamDriver.ReleasePool")
