"""End to end: the real dockerd against ``ipamx-spy mock`` of the talk's recording."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from docker_env import PLUGIN_DIR, Docker, spawn_spy

from ipamx_spy import recording

pytestmark = pytest.mark.docker

def _talk(talk: Path) -> list[recording.Exchange]:
    if not talk.exists():
        pytest.fail(f"needs the capture {talk} (scripts/record_corpus.py talk)")
    return list(recording.load(talk).exchanges)


def _asked(exchanges: list[recording.Exchange], endpoint: str,
           test: Any = lambda request: True) -> tuple[Any, Any]:
    for exchange in exchanges:
        request = exchange.request.value
        if exchange.endpoint == endpoint and exchange.response is not None and test(request):
            return request, exchange.response.value
    raise AssertionError(f"recordings/talk.jsonl has no {endpoint} of that kind")


def test_dockerd_completes_create_and_run_ip_with_the_recorded_answers(
        dockerd: Docker, plugin_name: str, sockdir: Path) -> None:
    talk = dockerd.corpus("talk")  # each daemon is mocked with its own capture
    exchanges = _talk(talk)
    pool, _ = _asked(exchanges, "IpamDriver.RequestPool")
    _, gateway = _asked(exchanges, "IpamDriver.RequestAddress",
                        lambda r: (r.get("Options") or {}).get("RequestAddressType"))
    fixed, answer = _asked(exchanges, "IpamDriver.RequestAddress",
                           lambda r: r.get("Address") and r.get("Options") is None)
    socket = PLUGIN_DIR / f"{plugin_name}.sock"
    session = sockdir / "mock-session.jsonl"
    net = f"{plugin_name}-net"
    spy = spawn_spy(["mock", str(talk), "--name", plugin_name, "--record", str(session),
                     "--compact"], socket, session)
    try:
        dockerd.run("network", "create", "-d", "bridge", "--ipam-driver", plugin_name,
                    "--subnet", pool["Pool"], net)
        dockerd.run("run", "-d", f"--net={net}", "--ip", fixed["Address"], "--name",
                    f"{net}-c1", "bb:latest", "sleep", "600")
        subnet = dockerd.network(net)["IPAM"]["Config"][0]["Subnet"]
        attached = dockerd.inspect("inspect", f"{net}-c1")[0]["NetworkSettings"]["Networks"][net]
        dockerd.run("rm", "-f", f"{net}-c1")
        dockerd.run("network", "rm", net)
    finally:
        output = spy.stop()
    assert subnet == pool["Pool"]
    assert attached["Gateway"] == gateway["Address"].split("/")[0]
    assert attached["IPAddress"] == answer["Address"].split("/")[0]
    served = recording.load(session).exchanges
    assert [e.endpoint for e in served][:6] == [e.endpoint for e in exchanges][:6]
    assert all(e.response is not None and e.response.status == 200 for e in served), output
    assert "without a recorded answer: 0" in output


def test_docker_run_works_against_a_mocked_network_driver(
        dockerd: Docker, plugin_name: str, sockdir: Path) -> None:
    """The recorded Join names a host interface; mock creates it (a veth pair), so dockerd can
    move it into the container, and removes it again when dockerd deletes the endpoint."""
    lifecycle = dockerd.corpus("netdriver-lifecycle")
    exchanges = _talk(lifecycle)
    pool, _ = _asked(exchanges, "IpamDriver.RequestPool")
    _, joined = _asked(exchanges, "NetworkDriver.Join")
    src = joined["InterfaceName"]["SrcName"]
    socket = PLUGIN_DIR / f"{plugin_name}.sock"
    session = sockdir / "mock-driver.jsonl"
    net, container = f"{plugin_name}-net", f"{plugin_name}-c1"
    spy = spawn_spy(["mock", str(lifecycle), "--name", plugin_name, "--record", str(session),
                     "--quiet"], socket, session)
    try:
        dockerd.run("network", "create", "-d", plugin_name, "--ipam-driver", plugin_name,
                    "--subnet", pool["Pool"], net)
        dockerd.run("run", "-d", f"--net={net}", "--name", container, "bb:latest", "sleep",
                    "600")
        inside = dockerd.run("exec", container, "ip", "-o", "addr", "show").stdout
        dockerd.run("rm", "-f", container)
        left_after_rm = _link_exists(src)
        dockerd.run("network", "rm", net)
    finally:
        output = spy.stop()
    assert "eth0" in inside and "10.60.0.2/24" in inside, inside
    assert not left_after_rm, f"{src} is still on the host after DeleteEndpoint"
    served = recording.load(session).exchanges
    assert "NetworkDriver.ProgramExternalConnectivity" in [e.endpoint for e in served], output
    assert all(e.response is not None and e.response.status == 200 for e in served), output


def _link_exists(name: str) -> bool:
    import subprocess

    return subprocess.run(["ip", "link", "show", name], capture_output=True).returncode == 0
