"""Scenario files: docker command lines into emulator steps."""

from __future__ import annotations

from pathlib import Path

import pytest

from ipamx_spy.emulator import scenario
from ipamx_spy.emulator.scenario import (
    ContainerOp,
    NetworkConnect,
    NetworkCreate,
    Pause,
    Port,
    RestartDaemon,
    RunContainer,
    ScenarioError,
)

ROOT = Path(__file__).resolve().parent.parent


def only(text: str) -> scenario.Action:
    [step] = scenario.parse(text)
    return step.action


def test_network_create_options() -> None:
    action = only("docker network create -d ipamx --ipam-driver=ipamx --subnet 10.5.0.0/16 "
                  "--ip-range 10.5.1.0/24 --gateway 10.5.0.1 --aux-address a1=10.5.0.5 "
                  "-o dk=dv --ipam-opt ik=iv --ipv6 --internal --label x=y n2")
    assert action == NetworkCreate(
        name="n2", driver="ipamx", ipam_driver="ipamx", subnets=("10.5.0.0/16",),
        ranges=("10.5.1.0/24",), gateways=("10.5.0.1",), aux=(("a1", "10.5.0.5"),),
        ipam_opts=(("ik", "iv"),), opts=(("dk", "dv"),), ipv6=True, internal=True)


def test_run_options_stop_at_the_image() -> None:
    action = only("docker run -dit --rm -e A=1 --name c1 --net=n --ip 10.0.0.5 "
                  "-p 127.0.0.1:8080:80/udp -p 9000 --expose 7000 bb sleep --name x")
    assert action == RunContainer(
        name="c1", network="n", ip="10.0.0.5", detach=True, ports=(
            Port(proto=17, port=80, host_ip="127.0.0.1", host_port=8080, host_port_end=8080),
            Port(proto=6, port=7000, published=False),
            Port(proto=6, port=9000)))


def test_container_commands_and_aliases() -> None:
    assert only("docker container stop -t 0 a b") == ContainerOp(verb="stop", names=("a", "b"))
    assert only("docker kill a") == ContainerOp(verb="stop", names=("a",))
    assert only("docker rm -f a") == ContainerOp(verb="rm", names=("a",), force=True)
    assert only("docker create --name a bb") == RunContainer(name="a", start=False)
    assert only("docker network connect --ip 10.0.0.9 n a") == NetworkConnect(
        network="n", container="a", ip="10.0.0.9")
    assert only("systemctl restart docker") == RestartDaemon()
    assert only("sleep 2") == Pause(waits=True)
    assert only("docker exec n1 ping -c 1 10.0.0.3") == Pause()
    assert only("docker network inspect n") == Pause()


def test_comments_continuations_and_expected_failures() -> None:
    steps = scenario.parse("# a comment\n\n! docker network rm \\\n  n1 n2  # trailing\n"
                           "docker network rm n3\n")
    assert [(s.line, s.expect_failure, s.text) for s in steps] == [
        (3, True, "docker network rm n1 n2"), (5, False, "docker network rm n3")]


@pytest.mark.parametrize(("text", "message"), [
    ("docker run --volumes-from x bb", "unsupported option --volumes-from"),
    ("docker network create", "exactly one network name"),
    ("docker network prune", "docker network prune is not supported"),
    ("docker pull bb", "docker pull is not supported"),
    ("ls -l", "not a docker command"),
    ("docker network create --aux-address nokey n", "is not KEY=VALUE"),
    ("docker run -p 80/xtp bb", "unknown protocol"),
    ("docker network create --ipv6=maybe n", "takes true or false"),
    ("docker run --name", "needs a value"),
    ('docker run "unclosed', "No closing quotation"),
])
def test_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message) as caught:
        scenario.parse("\n" + text, "s.scenario")
    assert str(caught.value).startswith("s.scenario:2: ")


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.scenario")),
                         ids=lambda p: p.stem)
def test_shipped_scenarios_parse(path: Path) -> None:
    assert scenario.load(path)
