"""Every verdict row driven end to end on each real dockerd of the matrix (20.10.24, 26.1.5,
28.5.2): dockerd ⇄ ipamx-spy (subprocess) ⇄ a plugin that gives the row's answer. The docker
command's outcome and dockerd's log must be what the case states for that daemon and what
``read_answer`` says for that version, and so must the verdict on the exchange as the proxy
recorded it."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from docker_env import PLUGIN_DIR, Docker, spawn_spy
from fakeplugin import FakePlugin, http, ok
from verdict_cases import CASES, Case

from ipamx_spy import recording
from ipamx_spy.dockerd import Endpoint, Outcome, read_answer
from ipamx_spy.dockerd.verdict import is_gateway_request
from ipamx_spy.mock import MockPlugin
from ipamx_spy.replay.compare import Rules
from ipamx_spy.replay.engine import replay_recording
from ipamx_spy.replay.target import TargetSpec

pytestmark = pytest.mark.docker

SUBNET = "10.77.0.0/24"


def _answers(case: Case) -> dict[str, Callable[[bytes], bytes]]:
    """A plugin that answers correctly, except for the case's call."""
    def request_address(body: bytes) -> bytes:
        asked = json.loads(body)
        if case.endpoint is Endpoint.REQUEST_ADDRESS and (
                is_gateway_request(asked) == is_gateway_request(case.request)):
            return http(case.status, case.body)
        return ok({"Address": "10.77.0.1/24" if is_gateway_request(asked) else "10.77.0.2/24"})

    answers: dict[str, Callable[[bytes], bytes]] = {
        "Plugin.Activate": lambda _b: ok({"Implements": ["IpamDriver", "NetworkDriver"]}),
        "IpamDriver.GetCapabilities": lambda _b: ok({}),
        "IpamDriver.GetDefaultAddressSpaces": lambda _b: ok({
            "LocalDefaultAddressSpace": "L", "GlobalDefaultAddressSpace": "G"}),
        "IpamDriver.RequestPool": lambda _b: ok({"PoolID": "p1", "Pool": SUBNET, "Data": {}}),
        "IpamDriver.RequestAddress": request_address,
        "NetworkDriver.GetCapabilities": lambda _b: ok({"Scope": "local"}),
        "NetworkDriver.Join": lambda _b: ok({"DisableGatewayService": True}),
    }
    if case.endpoint is not Endpoint.REQUEST_ADDRESS:
        answers[case.endpoint.value] = lambda _b: http(case.status, case.body)
    return answers


def _drive(docker: Docker, name: str, case: Case) -> list[tuple[str, int, str]]:
    """network create, (run, rm -f), network rm: each command's exit code and stderr."""
    driver = ["-d", name] if case.netdriver else ["-d", "bridge"]
    commands = [("create", ["network", "create", *driver, "--ipam-driver", name,
                            "--subnet", SUBNET, name])]
    if case.container:
        commands.append(("run", ["run", "-d", "--net", name, "--name", f"{name}-c",
                                 "bb:latest", "sleep", "60"]))
    results = []
    for label, args in commands:
        result = docker.run(*args, check=False, timeout=90)
        results.append((label, result.returncode, result.stderr.strip()))
        if result.returncode != 0:
            break
    if case.container:
        docker.run("rm", "-f", f"{name}-c", check=False, timeout=90)
    result = docker.run("network", "rm", name, check=False, timeout=90)
    results.append(("rm", result.returncode, result.stderr.strip()))
    return results


def _fits(cli_text: str, stderr: str) -> bool:
    """The verdict's CLI text (``<container>``-style placeholders match any word) occurs in
    what the docker command printed."""
    pattern = r"\S+".join(re.escape(part) for part in re.split(r"<\w+>", cli_text.strip()))
    return re.search(pattern, stderr) is not None


@pytest.mark.parametrize("stated", CASES, ids=lambda c: c.id)
def test_verdict_matches_the_real_daemon(dockerd: Docker, sockdir: Path, stated: Case) -> None:
    case = stated.on(dockerd.daemon.label)
    name = f"ipx{uuid.uuid4().hex[:8]}"
    socket = PLUGIN_DIR / f"{name}.sock"
    upstream = sockdir / "up.sock"
    rec = sockdir / "rec.jsonl"
    log_start = dockerd.log.stat().st_size
    with FakePlugin(upstream, _answers(case)):
        spy = spawn_spy(["proxy", "--name", name, "--upstream", str(upstream),
                         "--record", str(rec), "--compact"], socket, rec)
        try:
            results = _drive(dockerd, name, case)
        finally:
            spy.stop()
    log = dockerd.log.read_text(errors="replace")[log_start:]
    verdict = read_answer(case.endpoint, case.status, [], case.body, dockerd.version,
                          request=case.request)
    assert verdict.outcome is case.outcome
    assert verdict.error == case.error
    failed = [r for r in results if r[1] != 0 and r[0] != "rm"]
    if case.outcome is Outcome.FAILS_COMMAND:
        assert failed, results
        assert verdict.error is not None and verdict.error.strip() in failed[0][2]
        assert verdict.cli_text is not None and _fits(verdict.cli_text, failed[0][2]), \
            (verdict.cli_text, failed[0][2])
        if case.cli:
            assert case.cli == failed[0][2]
            assert verdict.cli_text in case.cli
    else:
        assert failed == [] and results[-1][1] == 0, results
    if case.outcome is Outcome.LOGGED and case.log:
        assert verdict.error is not None and case.log in log, log[-2000:]
        assert verdict.error in log
    elif case.outcome is Outcome.LOGGED:  # ignored: not even the error is logged
        assert verdict.log_line == "<debug level only>"
        assert verdict.error is not None and verdict.error not in log, log[-2000:]
    recorded = [e for e in recording.load(rec).exchanges if e.endpoint == case.endpoint.value
                and e.response is not None and e.response.raw_body == case.body
                and e.response.status == case.status]
    assert recorded, "the proxy recorded the call"
    again = read_answer(recorded[0].endpoint, recorded[0].response.status,  # type: ignore[union-attr]
                        recorded[0].response.headers,  # type: ignore[union-attr]
                        recorded[0].response.raw_body,  # type: ignore[union-attr]
                        dockerd.version, request=recorded[0].request.value)
    assert again.outcome is case.outcome and again.error == verdict.error
    _replays_against_a_mock_of_itself(rec)


def _replays_against_a_mock_of_itself(path: Path) -> None:
    """A recording of a plugin with this deviation, replayed against a mock that serves the
    recording's own answers, conforms: an answer identical to the recorded one never fails."""
    loaded = recording.load(path)
    spec = TargetSpec(label="mock", app_factory=lambda: MockPlugin(exchanges=loaded.exchanges))
    result = replay_recording(loaded, spec, Rules())
    assert result.verdicts
    assert result.ok, [(v.seq, v.endpoint, [p.message for p in v.problems])
                       for v in result.failures]
