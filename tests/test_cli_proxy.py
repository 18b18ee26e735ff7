"""The proxy, serve, mark and status commands as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from docker_env import spawn_spy
from spyharness import SpyThread
from typer.testing import CliRunner

from ipamx_spy import recording
from ipamx_spy.address import Address
from ipamx_spy.aio.relay import RelayOptions
from ipamx_spy.builtin import BuiltinConfig, make_plugin
from ipamx_spy.cli import app
from ipamx_spy.client import PluginConnection, docker_request
from ipamx_spy.dockerd import Endpoint

POOL = (b'{"AddressSpace":"LocalDefault","Pool":"10.9.0.0/16","SubPool":"",'
        b'"Options":{},"V6":false}\n')


def address_request(pool_id: str = "LocalDefault/10.9.0.0/16") -> bytes:
    body = json.dumps({"PoolID": pool_id, "Address": "", "Options": None},
                      separators=(",", ":")).encode() + b"\n"
    return docker_request("IpamDriver.RequestAddress", body)


def test_kill_9_loses_no_answered_exchange(sockdir: Path) -> None:
    rec = sockdir / "r.jsonl"
    spy = spawn_spy(["proxy", "--listen", str(sockdir / "p.sock"), "--state", "none",
                     "--record", str(rec), "--quiet", "--control", str(sockdir / "c.ctl")],
                    sockdir / "p.sock", rec)
    answered = []
    with PluginConnection(Address(kind="unix", path=str(sockdir / "p.sock"))) as conn:
        conn.call(docker_request("IpamDriver.RequestPool", POOL))
        for _ in range(200):
            message, _ = conn.call(address_request())
            answered.append(json.loads(message.body)["Address"])
    spy.process.send_signal(signal.SIGKILL)
    spy.process.wait()
    exchanges = recording.load(rec).exchanges
    got = [e.response.value["Address"] for e in exchanges
           if e.endpoint == "IpamDriver.RequestAddress" and e.response]
    assert got == answered
    assert len(set(answered)) == 200


def test_sigterm_prints_summary_and_removes_socket(sockdir: Path) -> None:
    sock = sockdir / "p.sock"
    spy = spawn_spy(["proxy", "--listen", str(sock), "--state", "none", "--no-record",
                     "--compact", "--control", str(sockdir / "c.ctl")], sock, None)
    with PluginConnection(Address(kind="unix", path=str(sock))) as conn:
        conn.call(docker_request("Plugin.Activate"))
        conn.call(docker_request("IpamDriver.RequestPool", POOL))
    output = spy.stop(signal.SIGTERM)
    assert spy.process.returncode == 0
    assert not sock.exists() and not (sockdir / "c.ctl").exists()
    assert "Plugin.Activate" in output and "ipamx-spy summary" in output
    assert "IpamDriver.RequestPool" in output and "p50 ms" in output


def test_second_proxy_on_the_same_socket_is_refused(sockdir: Path) -> None:
    sock = sockdir / "p.sock"
    spy = spawn_spy(["proxy", "--listen", str(sock), "--state", "none", "--no-record",
                     "--quiet", "--control", str(sockdir / "c.ctl")], sock, None)
    try:
        second = subprocess.run(
            [sys.executable, "-m", "ipamx_spy", "proxy", "--listen", str(sock), "--state",
             "none", "--no-record", "--control", str(sockdir / "c2.ctl")],
            capture_output=True, text=True, timeout=30)
    finally:
        spy.stop()
    assert second.returncode == 2
    assert f"another process is already listening on {sock}" in second.stderr


def test_json_mode_writes_records_to_stdout(sockdir: Path) -> None:
    sock = sockdir / "p.sock"
    spy = spawn_spy(["proxy", "--listen", str(sock), "--state", "none", "--no-record",
                     "--json", "--control", str(sockdir / "c.ctl")], sock, None)
    with PluginConnection(Address(kind="unix", path=str(sock))) as conn:
        conn.call(docker_request("Plugin.Activate"))
    output = spy.stop()  # the close of the connection is recorded at the latest as it stops
    records = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert [r["type"] for r in records] == ["header", "open", "exchange", "close"]
    assert records[2]["response"]["body"]["json"] == {"Implements": ["IpamDriver"]}


def test_upstream_that_is_the_listen_socket_is_refused(sockdir: Path) -> None:
    result = CliRunner().invoke(app, ["proxy", "--listen", str(sockdir / "x.sock"),
                                      "--upstream", str(sockdir / "x.sock"), "--no-record"])
    assert result.exit_code == 2
    assert "is the socket ipamx-spy listens on" in result.output


@pytest.mark.parametrize("bad", ["ftp://x", "https://h:1"])
def test_bad_upstream_address(bad: str) -> None:
    result = CliRunner().invoke(app, ["proxy", "--upstream", bad, "--no-record"])
    assert result.exit_code == 2 and "--upstream" in result.output


def test_mark_and_status_against_a_running_builtin_plugin(sockdir: Path) -> None:
    plugin = make_plugin(BuiltinConfig())
    spy = SpyThread(sockdir / "p.sock", RelayOptions(upstream=None, app=plugin),
                    record=sockdir / "r.jsonl", control=sockdir / "c.ctl")
    runner = CliRunner()
    with spy, PluginConnection(Address(kind="unix", path=str(sockdir / "p.sock"))) as conn:
        conn.call(docker_request("IpamDriver.RequestPool", POOL))
        conn.call(address_request())
        marked = runner.invoke(app, ["mark", "--control", str(sockdir / "c.ctl"), "after one"])
        status = runner.invoke(app, ["status", "--socket", str(sockdir / "p.sock"), "--json"])
    assert marked.exit_code == 0, marked.output
    assert "marker after exchange #2: after one" in marked.output
    assert status.exit_code == 0, status.output
    answers = json.loads(status.output)
    assert answers["Networks"]["Networks"][0]["Pool"] == "10.9.0.0/16"
    assert answers["Leases"]["Leases"][0]["Address"] == "10.9.0.1/16"
    markers = recording.load(sockdir / "r.jsonl").markers()
    assert markers[0]["text"] == "after one" and markers[0]["after_seq"] == 2


def test_mark_without_a_running_proxy(sockdir: Path) -> None:
    result = CliRunner().invoke(app, ["mark", "--control", str(sockdir / "none.ctl"), "x"])
    assert result.exit_code == 2 and "no running proxy answers" in result.output


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def gone(pid: int) -> bool:
    """The process ended (a zombie counts: only its parent could reap it)."""
    path = Path(f"/proc/{pid}/status")
    try:
        return "State:\tZ" in path.read_text()
    except FileNotFoundError:
        return True


def test_live_view_and_checker_processes_die_with_a_killed_proxy(sockdir: Path) -> None:
    sock = sockdir / "p.sock"
    spy = spawn_spy(["proxy", "--listen", str(sock), "--state", "none", "--no-record",
                     "--control", str(sockdir / "c.ctl")], sock, None)
    helpers = children(spy.process.pid)
    assert len(helpers) == 2  # the live view and the checking sink
    spy.process.send_signal(signal.SIGKILL)
    spy.process.wait()
    deadline = time.monotonic() + 10
    while not all(gone(pid) for pid in helpers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(gone(pid) for pid in helpers)


def test_findings_reach_the_recording_and_the_summary_when_the_view_dies(
        sockdir: Path) -> None:
    """The checking sink is no part of the view: kill the view, the findings still arrive."""
    sock, rec = sockdir / "p.sock", sockdir / "r.jsonl"
    spy = spawn_spy(["proxy", "--listen", str(sock), "--state", "none", "--record", str(rec),
                     "--control", str(sockdir / "c.ctl")], sock, rec)
    try:
        wanted = {"ipamx-spy view", "ipamx-spy check"}
        deadline = time.monotonic() + 10  # each child names itself once it runs
        names: dict[str, int] = {}
        while set(names) != wanted and time.monotonic() < deadline:
            names = {Path(f"/proc/{pid}/comm").read_text().strip(): pid
                     for pid in children(spy.process.pid)}
            time.sleep(0.02)
        assert set(names) == wanted
        os.kill(names["ipamx-spy view"], signal.SIGKILL)
        with PluginConnection(Address(kind="unix", path=str(sock))) as conn:
            conn.call(docker_request("Plugin.Activate"))
            conn.call(docker_request("IpamDriver.NoSuchCall", b"{}\n"))  # IPX001
            conn.call(docker_request("IpamDriver.RequestAddress", b"{}\n"))  # no such pool
        deadline = time.monotonic() + 30  # recorded while the proxy runs, not only at its end
        found: list[dict[str, object]] = []
        while not found and time.monotonic() < deadline:
            found = [r for r in map(json.loads, rec.read_text().splitlines())
                     if r["type"] == "finding"]
            time.sleep(0.05)
        assert any(f["code"] == "IPX001" and f["seq"] == 2 for f in found)
    finally:
        output = spy.stop(signal.SIGINT)
    assert "the live view process is gone; recording goes on" in output
    assert "validation: " in output and "ipamx-spy summary" in output
    summary = output[output.index("ipamx-spy summary"):]
    rows = {cells[1]: cells[2:4] for line in summary.splitlines()
            if len(cells := [c.strip() for c in line.split("│")]) > 4}
    # the verdicts (the errors column) come from the checking sink too
    assert rows["IpamDriver.RequestAddress"] == ["1", "1"], summary
    assert rows["Plugin.Activate"] == ["1", "-"], summary
    findings = [r for r in recording.load(rec).records if r["type"] == "finding"]
    assert {f["code"] for f in findings} >= {"IPX001"}


@pytest.mark.parametrize("mode", [[], ["--compact"]])
def test_ctrl_c_to_the_whole_process_group_stops_the_proxy(sockdir: Path, mode: list[str]) -> None:
    """Ctrl-C reaches the proxy and its live-view process at once; both must end cleanly."""
    sock = sockdir / "p.sock"
    process = subprocess.Popen(
        [sys.executable, "-m", "ipamx_spy", "proxy", "--listen", str(sock), "--state", "none",
         "--record", str(sockdir / "r.jsonl"), "--control", str(sockdir / "c.ctl"), *mode],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    deadline = time.monotonic() + 20
    while not sock.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    with PluginConnection(Address(kind="unix", path=str(sock))) as conn:
        conn.call(docker_request("Plugin.Activate"))
    os.killpg(process.pid, signal.SIGINT)
    try:
        output, _ = process.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise AssertionError("the proxy did not stop on Ctrl-C") from None
    assert process.returncode == 0, output
    assert "Plugin.Activate" in output and "ipamx-spy summary" in output
    assert not sock.exists()


def test_json_into_a_pipe_nobody_reads_never_freezes_the_proxy(sockdir: Path) -> None:
    sock, ctl, rec = sockdir / "p.sock", sockdir / "c.ctl", sockdir / "r.jsonl"
    with open(sockdir / "stderr", "w") as stderr:
        process = subprocess.Popen(  # stdout is a pipe this test never reads
            [sys.executable, "-m", "ipamx_spy", "proxy", "--listen", str(sock), "--state",
             "none", "--json", "--record", str(rec), "--control", str(ctl)],
            stdout=subprocess.PIPE, stderr=stderr)
    try:
        deadline = time.monotonic() + 20
        while not sock.exists() and time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.05)
        with PluginConnection(Address(kind="unix", path=str(sock)), timeout=20) as conn:
            conn.call(docker_request("IpamDriver.RequestPool", POOL))
            for _ in range(3000):  # ~2 MB of JSON lines: more than both pipes hold
                message, _ = conn.call(address_request())
                assert message.status == 200
        status = subprocess.run(
            [sys.executable, "-m", "ipamx_spy", "mark", "--control", str(ctl), "done"],
            capture_output=True, text=True, timeout=30)
        assert status.returncode == 0, status.stdout + status.stderr
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=40) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert len(recording.load(rec).exchanges) == 3001
    assert "skipped" in (sockdir / "stderr").read_text()


@pytest.mark.parametrize("allow", [False, True])
def test_shutdown_is_served_only_with_allow_shutdown(sockdir: Path, allow: bool) -> None:
    sock = sockdir / "p.sock"
    args = ["serve", "--listen", str(sock), "--state", "none"]
    spy = spawn_spy(args + (["--allow-shutdown"] if allow else []), sock, None)
    try:
        with PluginConnection(Address(kind="unix", path=str(sock))) as conn:
            message, _ = conn.call(docker_request("IpamDriver.Shutdown", b"{}\n"))
            if allow:
                assert spy.process.wait(timeout=20) == 0
            else:
                assert "--allow-shutdown" in json.loads(message.body)["Error"]
                again, _ = conn.call(docker_request("IpamDriver.GetCapabilities"))
                assert again.status == 200 and spy.process.poll() is None
    finally:
        spy.stop()


def _other_group() -> tuple[str, int]:
    """A group that is not ours (so a file only gets it through --group)."""
    import grp

    for entry in grp.getgrall():
        if entry.gr_gid != os.getgid():
            return entry.gr_name, entry.gr_gid
    pytest.skip("this machine has a single group")


@pytest.mark.parametrize("command", ["serve", "proxy"])
def test_state_files_are_private_and_group_names_who_may_read_them(
        sockdir: Path, tmp_path: Path, command: str) -> None:
    name, gid = _other_group()
    for group in (None, name):
        state = tmp_path / f"{group or 'private'}.state.json"
        sock = sockdir / f"{group or 'private'}.sock"
        args = [command, "--listen", str(sock), "--state", str(state)]
        if command == "proxy":
            args += ["--no-record", "--quiet", "--name", f"g{os.getpid()}{group or ''}"[:20]]
        spy = spawn_spy(args + (["--group", group] if group else []), sock, None)
        try:
            with PluginConnection(Address(kind="unix", path=str(sock))) as conn:
                message, _ = conn.call(docker_request("IpamDriver.RequestPool", POOL))
                assert message.status == 200
        finally:
            spy.stop()
        for path in (state, state.with_name(state.name + ".journal")):
            info = os.stat(path)
            mode = 0o600 if group is None else 0o640
            assert (oct(stat.S_IMODE(info.st_mode)), path.name) == (oct(mode), path.name)
            if group is not None:
                assert info.st_gid == gid


def test_network_driver_state_follows_group(tmp_path: Path) -> None:
    from ipamx_spy.netdriver.service import NetworkService

    name, gid = _other_group()
    network = {"NetworkID": "ab" * 32, "Options": {}, "IPv6Data": [],
               "IPv4Data": [{"AddressSpace": "LocalDefault", "Gateway": "10.4.4.1/24",
                             "Pool": "10.4.4.0/24"}]}
    for group in (None, name):
        state = tmp_path / f"{group or 'private'}.network.json"
        service = NetworkService.from_config(BuiltinConfig(
            name=f"g{os.getpid()}", network_driver=True, network_state=state,
            network_links="memory", group=group))
        try:
            assert service.call(Endpoint.CREATE_NETWORK, network) == {}
        finally:
            service.close()
        info = os.stat(state)
        assert stat.S_IMODE(info.st_mode) == (0o600 if group is None else 0o640)
        if group is not None:
            assert info.st_gid == gid
