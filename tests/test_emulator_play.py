"""``drive``'s run as a library (``ipamx_spy.emulator.play``): the observer hears every command,
exchange and result in order, the tally counts what did not go as the scenario says, and the
validator's errors, and the same seed plays the same run."""

from __future__ import annotations

from collections.abc import Sequence

from ipamx_spy.dockerd.versions import lookup
from ipamx_spy.emulator import scenario
from ipamx_spy.emulator.driver import StepResult
from ipamx_spy.emulator.play import (
    Observer,
    PlayOptions,
    play_scenario,
    play_swarm,
    scenario_checker,
)
from ipamx_spy.emulator.swarm import node_names
from ipamx_spy.findings import Finding
from ipamx_spy.recording import Exchange
from ipamx_spy.recordmodes import scenario_target
from ipamx_spy.validate import Validator

STEPS = scenario.parse("docker network create -d ipamx --ipam-driver ipamx n1\n"
                       "! docker network create -d ipamx --ipam-driver ipamx n1\n"
                       "docker network rm n1\n"
                       "! docker network rm n1\n")


def _play(seed: int) -> tuple[list[str], list[StepResult], int]:
    heard: list[str] = []
    version = lookup("20.10")

    def exchange(exchange: Exchange, found: Sequence[Finding], node: str) -> None:
        heard.append(f"exchange {exchange.endpoint} {len(found)} {node!r}")

    observer = Observer(command=lambda step: heard.append(f"command {step.text}"),
                        exchange=exchange,
                        result=lambda result: heard.append(f"result {result.as_expected}"))
    tally = play_scenario(STEPS, scenario_target("builtin", version), version,
                          observer=observer, options=PlayOptions(seed=seed, host_routes=False),
                          checker=lambda: scenario_checker(version, True))
    assert tally.checked and tally.errors == 0
    assert tally.calls == sum(1 for line in heard if line.startswith("exchange"))
    return heard, tally.results, tally.unexpected


def test_the_observer_hears_each_command_before_its_exchanges_and_result() -> None:
    heard, results, unexpected = _play(seed=1)
    commands = [i for i, line in enumerate(heard) if line.startswith("command")]
    assert len(commands) == len(STEPS) == len(results)
    for first, step in zip(commands, STEPS, strict=True):
        assert heard[first] == f"command {step.text}"
    assert heard[commands[0] + 1] == "exchange Plugin.Activate 0 ''"  # the create: the plugin
    assert [line for line in heard if line.startswith("result")] == ["result True"] * 4
    assert unexpected == 0


def test_the_same_seed_plays_the_same_run() -> None:
    first, second = _play(seed=7), _play(seed=7)
    assert first[0] == second[0]
    def wire(results: list[StepResult]) -> list[tuple[object, ...]]:  # everything but times
        return [(e.endpoint, e.request.body, e.response.body if e.response else None)
                for r in results for e in r.exchanges]

    assert wire(first[1]) == wire(second[1])
    assert any("RequestPool" in str(e[0]) for e in wire(first[1]))


def test_a_swarm_plays_one_daemon_per_node_each_checked_on_its_own() -> None:
    version = lookup("20.10")
    steps = scenario.load("docs/swarm/overlay-service.scenario")
    names = node_names(steps)
    heard: list[str] = []
    made: list[str] = []

    def checker() -> Validator:
        made.append("validator")
        return Validator(docker_version=version.name)

    tally = play_swarm(steps, {n: scenario_target("builtin", version) for n in names}, version,
                       observer=Observer(exchange=lambda e, found, node: heard.append(node)),
                       seed=3, checker=checker)
    assert len(names) > 1 and len(made) == len(names)
    assert set(heard) == set(names) and len(heard) == tally.calls
    assert tally.checked and tally.unexpected == 0 and tally.errors == 0
