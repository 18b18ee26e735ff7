"""The emulator reads answers with the session's address roles (issue #12): a refused
ReleaseAddress is logged as dockerd logs it for a container's address, the gateway and an
--aux-address, the role coming from the same follower every reader uses (``AddressRoles``)."""

from __future__ import annotations

import random
from pathlib import Path

from ipamx_spy import dockerd
from ipamx_spy.app import Reply
from ipamx_spy.builtin import BuiltinConfig, make_plugin
from ipamx_spy.dockerd.versions import lookup
from ipamx_spy.emulator import scenario
from ipamx_spy.emulator.daemon import Daemon
from ipamx_spy.emulator.driver import EmulatorAppTarget, EmulatorSession

SCENARIO = """\
docker network create -d bridge --ipam-driver ipamx --subnet 10.4.4.0/24 --aux-address a=10.4.4.9 n1
docker run -d --name c1 --net n1 bb:latest sleep 600
docker stop c1
docker rm c1
docker network rm n1
"""


class RefusesReleases:
    """The built-in plugin, except that every ReleaseAddress is refused."""

    def __init__(self) -> None:
        self.plugin = make_plugin(BuiltinConfig(name="ipamx"))

    def handle(self, endpoint: str, body: bytes) -> Reply:
        if endpoint == dockerd.Endpoint.RELEASE_ADDRESS:
            return Reply.json(200, {"Error": "address held"})
        return self.plugin.handle(endpoint, body)


def test_refused_releases_are_logged_by_what_each_address_is(tmp_path: Path) -> None:
    path = tmp_path / "roles.scenario"
    path.write_text(SCENARIO)
    daemon = Daemon(lookup("20.10"), rng=random.Random(0))
    session = EmulatorSession(daemon, EmulatorAppTarget(app=RefusesReleases()),
                              sleep=lambda _s: None)
    results = [session.play(step) for step in scenario.load(path)]
    assert all(r.as_expected for r in results), [r.outcome for r in results]
    create, run, stop, rm, network_rm = (r.logged for r in results)
    assert create == () and run == ()
    released = [e for r in results for e in r.exchanges
                if e.endpoint == dockerd.Endpoint.RELEASE_ADDRESS]
    assert [e.address_role for e in released] == [
        dockerd.AddressRole.ENDPOINT, dockerd.AddressRole.GATEWAY, dockerd.AddressRole.AUX]
    container_lines = stop + rm
    assert len(container_lines) == 1 and container_lines[0].startswith(
        "Failed to release ip address 10.4.4.")
    gateway, aux = network_rm
    assert gateway.startswith("Failed to release gateway ip address 10.4.4.1 ")
    # the request names no aux address's name: the verdict leaves dockerd's <aux> for it
    assert aux.startswith("Failed to release secondary ip address <aux> (10.4.4.9) on delete "
                          "of network ")
    assert all("address held" in line for line in (*container_lines, gateway, aux))
