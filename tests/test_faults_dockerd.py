"""The README's fault-injection example against the real dockerd: what ``docker`` prints when
``ipamx-spy mock`` answers a call with each fault (the talk's capture of that daemon)."""

from __future__ import annotations

from pathlib import Path

import pytest
from docker_env import PLUGIN_DIR, Docker, spawn_spy

pytestmark = pytest.mark.docker


def create_with_fault(dockerd: Docker, plugin_name: str, sockdir: Path,
                      fault: str) -> tuple[int, str]:
    """``docker network create`` against a mock of the talk with ``--fault FAULT``."""
    socket = PLUGIN_DIR / f"{plugin_name}.sock"
    session = sockdir / f"{plugin_name}.jsonl"
    spy = spawn_spy(["mock", str(dockerd.corpus("talk")), "--name", plugin_name, "--record",
                     str(session), "--quiet", "--fault", fault], socket, session)
    try:
        result = dockerd.run("network", "create", "--ipam-driver", plugin_name, "--subnet",
                             "10.4.4.0/24", f"{plugin_name}-net", check=False, timeout=60)
    finally:
        spy.stop()
    return result.returncode, result.stderr.strip()


def test_the_readme_example_prints_what_the_readme_says(
        dockerd: Docker, plugin_name: str, sockdir: Path) -> None:
    code, said = create_with_fault(dockerd, plugin_name, sockdir,
                                   "RequestPool:status=500,err=pool service down")
    assert code == 1
    assert said == "Error response from daemon: IpamDriver.RequestPool: pool service down"


def test_an_empty_answer_is_eof(dockerd: Docker, plugin_name: str, sockdir: Path) -> None:
    code, said = create_with_fault(dockerd, plugin_name, sockdir, "RequestPool:empty")
    assert code == 1
    assert said == "Error response from daemon: EOF"


def test_a_dropped_connection_fails_the_command_with_eof(
        dockerd: Docker, plugin_name: str, sockdir: Path) -> None:
    """Every RequestPool dropped: dockerd's retry (with an empty body) is dropped too, and the
    docker command shows Go's error for the request, with the URL dockerd used."""
    code, said = create_with_fault(dockerd, plugin_name, sockdir, "RequestPool:drop")
    host = ("plugin.moby.localhost" if dockerd.wire.dummy_host
            else f"%2Frun%2Fdocker%2Fplugins%2F{plugin_name}.sock")
    assert code == 1
    assert said == f'Error response from daemon: Post "http://{host}/IpamDriver.RequestPool": EOF'


def test_one_dropped_connection_is_retried_with_an_empty_body(
        dockerd: Docker, plugin_name: str, sockdir: Path) -> None:
    """``times=1``: the retry reaches the mock with no body (``null``), which matches no
    recorded request: the dropped call already used the recorded answer."""
    code, said = create_with_fault(dockerd, plugin_name, sockdir, "RequestPool:drop,times=1")
    assert code == 1
    assert said.startswith("Error response from daemon: IpamDriver.RequestPool: ipamx-spy mock: "
                           "no recorded IpamDriver.RequestPool matches this request; nearest is ")
    assert "(already answered)" in said and said.endswith(", got null")
