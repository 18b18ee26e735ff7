"""ProgramExternalConnectivity and RevokeExternalConnectivity rows on the real dockerd
(20.10.24, 26.1.5, 28.5.2): dockerd ⇄ ipamx-spy proxy with ``--fault`` ⇄ the built-in network
driver. The driver really sets the endpoint up (veths, a gateway), so the endpoint becomes the
container's gateway endpoint and dockerd calls both; only the answer dockerd gets is the faulty
one. The docker command's outcome and text, and dockerd's log, must be what ``read_answer``
says for that answer on that daemon."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from docker_env import IMAGE, PLUGIN_DIR, Docker, spawn_spy
from test_netdriver_e2e import our_links, remove_links

from ipamx_spy import recording
from ipamx_spy.dockerd import Endpoint, Outcome, read_answer
from ipamx_spy.netdriver.naming import Naming

SUBNET = "10.4.91.0/24"
PROGRAM, REVOKE = Endpoint.PROGRAM_EXTERNAL_CONNECTIVITY, Endpoint.REVOKE_EXTERNAL_CONNECTIVITY


@dataclass(frozen=True)
class Fault:
    id: str
    endpoint: Endpoint
    action: str  # the --fault action
    status: int  # what dockerd gets
    body: bytes


FAULTS = (
    Fault("program-empty-200", PROGRAM, "empty", 200, b""),
    Fault("program-500-Err", PROGRAM, "status=500,err=no nat", 500, b'{"Err": "no nat"}\n'),
    Fault("revoke-empty-200", REVOKE, "empty", 200, b""),
    Fault("revoke-500-Err", REVOKE, "status=500,err=no nat", 500, b'{"Err": "no nat"}\n'),
)


def _pattern(text: str) -> str:
    """A verdict's text as a regex: ``<name>``-style placeholders match any word."""
    return r"\S+".join(re.escape(part) for part in re.split(r"<\w+>", text.strip()))


def _without_host_warnings(stderr: str) -> str:
    return "\n".join(line for line in stderr.strip().splitlines()
                     if not line.startswith("WARNING: ")).strip()


@pytest.mark.docker
@pytest.mark.parametrize("fault", FAULTS, ids=lambda f: f.id)
def test_external_connectivity_verdict_matches_the_real_daemon(
        dockerd: Docker, plugin_name: str, sockdir: Path, fault: Fault) -> None:
    name, naming = plugin_name, Naming.for_plugin(plugin_name)
    net, container = f"{name}-net", f"{name}-c"
    rec = sockdir / "rec.jsonl"
    log_start = dockerd.log.stat().st_size
    spy = spawn_spy(["proxy", "--name", name, "--network-driver", "--record", str(rec),
                     "--compact", "--state", str(sockdir / "state.json"),
                     "--fault", f"{fault.endpoint.value}:{fault.action}"],
                    PLUGIN_DIR / f"{name}.sock", rec)
    try:
        dockerd.run("network", "create", "-d", name, "--ipam-driver", name, "--subnet", SUBNET,
                    net, timeout=90)
        run = dockerd.run("run", "-d", "--net", net, "--name", container, IMAGE, "sleep", "300",
                          check=False, timeout=90)
        stop = dockerd.run("stop", "-t", "1", container, check=False, timeout=90) \
            if run.returncode == 0 else None
        dockerd.run("rm", "-f", container, check=False, timeout=90)
        removed = dockerd.run("network", "rm", net, check=False, timeout=90)
        left = our_links(naming)
    finally:
        output = spy.stop()
        remove_links(naming)
    log = dockerd.log.read_text(errors="replace")[log_start:]
    assert removed.returncode == 0, removed.stderr
    assert left == [], output  # the driver's work was undone despite the faulty answer

    loaded = recording.load(rec)
    called = [e for e in loaded.exchanges if e.endpoint == fault.endpoint.value]
    assert len(called) == 1, [e.endpoint for e in loaded.exchanges]
    answer = called[0].response
    assert answer is not None
    assert (answer.status, answer.raw_body) == (fault.status, fault.body)
    verdict = read_answer(fault.endpoint, fault.status, answer.headers, fault.body,
                          dockerd.version, request=called[0].request.value)
    assert verdict.error is not None

    command = run if fault.endpoint is PROGRAM else stop
    assert command is not None, run.stderr
    printed = _without_host_warnings(command.stderr)
    if verdict.outcome is Outcome.FAILS_COMMAND:
        assert command.returncode != 0, printed
        assert verdict.cli_text is not None
        assert re.search(_pattern(verdict.cli_text), printed), (verdict.cli_text, printed)
        assert verdict.error in printed
    else:
        assert verdict.outcome is Outcome.LOGGED
        assert command.returncode == 0 and printed == "", printed
        assert run.returncode == 0, run.stderr
        assert verdict.log_line is not None
        logged = _pattern(verdict.log_line.replace("{error}", verdict.error))
        assert re.search(logged, log), (verdict.log_line, log[-3000:])


# dockerd's log line for a failed RevokeExternalConnectivity, as each daemon wrote it on
# docker stop (the test above; ids and names replaced).
REVOKE_LINES = {
    "20.10.24": "driver failed revoking external connectivity on endpoint <name> (<id>): {error}",
    "26.1.5": "driver failed revoking external connectivity on endpoint <name> (<id>): {error}",
    "28.5.2": ('msg="driver failed revoking external connectivity on endpoint" eid=<id> '
               "ep=<name> error={error} net=<network> nid=<nid>"),
}


@pytest.mark.parametrize("version", list(REVOKE_LINES))
@pytest.mark.parametrize(("status", "body", "error", "logged"), [
    (200, b"", "EOF", "EOF"),
    (500, b'{"Err": "no nat"}\n', "NetworkDriver.RevokeExternalConnectivity: no nat",
     '"NetworkDriver.RevokeExternalConnectivity: no nat"'),
])
def test_revoke_failure_is_logged_as_each_daemon_logs_it(
        version: str, status: int, body: bytes, error: str, logged: str) -> None:
    verdict = read_answer(REVOKE, status, [], body, version,
                          request={"NetworkID": "n", "EndpointID": "e"})
    assert verdict.outcome is Outcome.LOGGED and verdict.error == error
    structured = version == "28.5.2"
    assert verdict.log_line == REVOKE_LINES[version].format(error=logged if structured else error)


@pytest.mark.parametrize("version", list(REVOKE_LINES))
def test_program_failure_fails_docker_run(version: str) -> None:
    verdict = read_answer(PROGRAM, 200, [], b"", version,
                          request={"NetworkID": "n", "EndpointID": "e"})
    prefix = "failed to set up container networking: " if version == "28.5.2" else ""
    assert verdict.outcome is Outcome.FAILS_COMMAND and verdict.error == "EOF"
    assert verdict.cli_text == (f"Error response from daemon: {prefix}driver failed programming "
                                "external connectivity on endpoint <name> (<id>): EOF")
