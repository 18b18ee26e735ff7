"""End to end with the real dockerd: docker ⇄ ipamx-spy (subprocess) ⇄ plugin."""

from __future__ import annotations

from pathlib import Path

import pytest
from docker_env import PLUGIN_DIR, Docker, spawn_spy

from ipamx_spy import recording

pytestmark = pytest.mark.docker


def test_dead_upstream_fails_network_create_with_the_spy_message(
        dockerd: Docker, plugin_name: str, sockdir: Path) -> None:
    socket = PLUGIN_DIR / f"{plugin_name}.sock"
    rec = sockdir / "dead.jsonl"
    spy = spawn_spy(["proxy", "--name", plugin_name, "--upstream", str(sockdir / "gone.sock"),
                     "--record", str(rec), "--compact"], socket, rec)
    try:
        result = dockerd.run("network", "create", "--ipam-driver", plugin_name,
                             "--subnet", "10.44.0.0/24", f"{plugin_name}-net", check=False)
    finally:
        output = spy.stop()
    assert result.returncode != 0
    assert f"ipamx-spy: upstream unix://{sockdir / 'gone.sock'}" in result.stderr
    assert "No such file or directory" in result.stderr
    exchanges = recording.load(rec).exchanges
    assert exchanges[0].endpoint == "Plugin.Activate"
    assert exchanges[0].fault is not None and exchanges[0].fault.kind == "unreachable"
    assert "Plugin.Activate" in output
    assert not socket.exists()


def talk_sequence(docker: Docker) -> list[str]:
    return ["Plugin.Activate", "IpamDriver.GetCapabilities",
            *docker.spaces_calls(activation=True), "IpamDriver.RequestPool",
            "IpamDriver.RequestAddress", "IpamDriver.RequestAddress", "IpamDriver.RequestAddress",
            "IpamDriver.ReleaseAddress", "IpamDriver.ReleaseAddress", "IpamDriver.ReleaseAddress",
            "IpamDriver.ReleasePool"]


def dockerd_headers(docker: Docker) -> list[tuple[str, str | None]]:
    """20.10.24 sends an empty Host; 24.0.5 and later plugin.moby.localhost."""
    return [("Host", "plugin.moby.localhost" if docker.wire.dummy_host else ""),
            ("User-Agent", "Go-http-client/1.1"), ("Content-Length", None),
            ("Accept", "application/vnd.docker.plugins.v1.2+json")]


def test_talk_scenario_through_the_builtin_allocator(dockerd: Docker, plugin_name: str,
                                                      sockdir: Path) -> None:
    """The seed scenario: network create, run --ip, run, stop, rm, network rm."""
    socket = PLUGIN_DIR / f"{plugin_name}.sock"
    rec = sockdir / "talk.jsonl"
    net = f"{plugin_name}-mynet"
    spy = spawn_spy(["proxy", "--name", plugin_name, "--record", str(rec), "--compact",
                     "--state", "none", "--local-space", "ipamx-local",
                     "--global-space", "ipamx-global"], socket, rec)
    try:
        dockerd.run("network", "create", "-d", "bridge", "--ipam-driver", plugin_name,
                    "--subnet", "10.4.4.0/24", net)
        dockerd.run("run", "-d", f"--net={net}", "--ip", "10.4.4.21", "--name", f"{net}-a",
                    "bb:latest", "sleep", "600")
        dockerd.run("run", "-d", f"--net={net}", "--name", f"{net}-b", "bb:latest", "sleep", "600")
        ip_a = dockerd.container_ip(f"{net}-a", net)
        ip_b = dockerd.container_ip(f"{net}-b", net)
        gateway = dockerd.inspect("inspect", f"{net}-a")[0]["NetworkSettings"]["Networks"][net][
            "Gateway"]
        dockerd.run("stop", "-t", "1", f"{net}-a", f"{net}-b")
        dockerd.run("rm", f"{net}-a", f"{net}-b")
        dockerd.run("network", "rm", net)
    finally:
        output = spy.stop()
    exchanges = recording.load(rec).exchanges
    assert [e.endpoint for e in exchanges] == talk_sequence(dockerd)
    for exchange in exchanges:
        names = [(k, None if k == "Content-Length" else v) for k, v in exchange.request.headers]
        assert names == dockerd_headers(dockerd)
        assert exchange.status == 200 and exchange.fault is None
    at = [e.endpoint for e in exchanges].index("IpamDriver.RequestPool")
    pool = exchanges[at]
    assert pool.request.value == {"AddressSpace": "ipamx-local", "Pool": "10.4.4.0/24",
                                  "SubPool": "", "Options": {}, "V6": False}
    assert pool.response is not None
    assert pool.response.value["PoolID"] == "ipamx-local/10.4.4.0/24"
    gw, fixed, picked = exchanges[at + 1:at + 4]
    assert gw.request.value["Options"] == {"RequestAddressType": "com.docker.network.gateway"}
    assert fixed.request.value["Address"] == "10.4.4.21"
    assert picked.request.value["Address"] == ""
    answers = [e.response.value["Address"] for e in (gw, fixed, picked) if e.response]
    assert answers == [f"{gateway}/24", f"{ip_a}/24", f"{ip_b}/24"]
    assert (gateway, ip_a, ip_b) == ("10.4.4.1", "10.4.4.21", "10.4.4.2")
    released = {e.request.value["Address"] for e in exchanges[at + 4:at + 7]}
    assert released == {"10.4.4.21", "10.4.4.2", "10.4.4.1"}
    assert exchanges[0].request.raw_body == b""
    assert pool.request.raw_body.endswith(b"}\n")
    output = " ".join(output.split())  # --compact wraps at the terminal's width
    assert "the pool identifier is 'ipamx-local/10.4.4.0/24'" in output
    assert "this is a default gateway request (com.docker.network.gateway)" in output
