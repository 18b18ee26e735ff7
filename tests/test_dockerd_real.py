"""Every verdict row driven end to end on each real dockerd of the matrix (20.10.24, 26.1.5,
28.5.2): dockerd ⇄ ipamx-spy (subprocess) ⇄ a plugin that gives the row's answer. The docker
command's outcome and dockerd's log must be what the case states for that daemon and what
``read_answer`` says for that version, and so must the verdict on the exchange as the proxy
recorded it."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from docker_env import PLUGIN_DIR, Docker, spawn_spy
from fakeplugin import FakePlugin, http, ok
from verdict_cases import CASES, Case

from ipamx_spy import recording, tap
from ipamx_spy.dockerd import AddressRole, Endpoint, NoAnswer, Outcome, read_answer, read_no_answer
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
        if is_gateway_request(asked):
            return ok({"Address": "10.77.0.1/24"})
        return ok({"Address": f"{asked.get('Address') or '10.77.0.2'}/24"})  # aux: as asked

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
    aux = ["--aux-address", case.aux_address] if case.aux_address else []
    commands = [("create", ["network", "create", *driver, "--ipam-driver", name,
                            "--subnet", SUBNET, *aux, name])]
    if case.container:
        commands.append(("run", ["run", "-d", "--net", name, "--name", f"{name}-c",
                                 "bb:latest", "sleep", "60"]))
    results = []
    for label, args in commands:
        result = docker.run(*args, check=False, timeout=90)
        results.append((label, result.returncode, _without_host_warnings(result.stderr)))
        if result.returncode != 0:
            break
    if case.container:
        docker.run("rm", "-f", f"{name}-c", check=False, timeout=90)
    result = docker.run("network", "rm", name, check=False, timeout=90)
    results.append(("rm", result.returncode, result.stderr.strip()))
    return results


def _without_host_warnings(stderr: str) -> str:
    """What the command printed, less the daemon's warnings about the host (28.5 warns on
    ``docker run`` that IPv4 forwarding is disabled when the machine's ``ip_forward`` is 0):
    they are about the machine, not about the plugin's answer."""
    lines = stderr.strip().splitlines()
    return "\n".join(line for line in lines if not line.startswith("WARNING: ")).strip()


def _fits(cli_text: str, stderr: str) -> bool:
    """The verdict's CLI text (``<container>``-style placeholders match any word) occurs in
    what the docker command printed."""
    pattern = r"\S+".join(re.escape(part) for part in re.split(r"<\w+>", cli_text.strip()))
    return re.search(pattern, stderr) is not None


_LOGFMT_FIELD = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')
_PLACEHOLDER = re.compile(r"<\w+>")
# Fields of dockerd's own logger (and 26.1's tracing), not of the message being logged.
_LOGGER_FIELDS = frozenset({"time", "level", "spanID", "traceID"})


def _fields(line: str) -> dict[str, str]:
    """A logrus text-formatter line as its fields, quoted values unquoted."""
    return {key: json.loads(value) if value.startswith('"') else value
            for key, value in _LOGFMT_FIELD.findall(line)}


def _value_pattern(text: str) -> re.Pattern[str]:
    """The verdict's value, its ``<id>``-style placeholders matching any id or name."""
    parts = _PLACEHOLDER.split(text)
    return re.compile(r"[^\s()]+".join(re.escape(part) for part in parts))


def _logged(log_line: str, log: str) -> bool:
    """Some line of dockerd's log is the verdict's ``log_line`` whole: the same fields (the
    logger's own time, level and tracing fields aside, in any order) with the same values, a
    placeholder standing for any id or name. A sentence-style ``log_line`` is the ``msg``."""
    wanted = _fields(log_line) if log_line.startswith("msg=") else {"msg": log_line}
    patterns = {key: _value_pattern(value) for key, value in wanted.items()}
    for line in log.splitlines():
        got = {k: v for k, v in _fields(line).items() if k not in _LOGGER_FIELDS}
        if got.keys() == patterns.keys() and all(
                patterns[key].fullmatch(value) for key, value in got.items()):
            return True
    return False


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
        assert verdict.log_line is not None
        assert _logged(verdict.log_line, log), (verdict.log_line, log[-3000:])
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
    if case.endpoint is Endpoint.RELEASE_ADDRESS:
        _each_release_logged_as_its_role(rec, log, dockerd.version, case)
    _replays_against_a_mock_of_itself(rec)


def _each_release_logged_as_its_role(rec: Path, log: str, version: str, case: Case) -> None:
    """Every ReleaseAddress of the session was refused; each is in dockerd's log as the
    verdict words it for the address's role, as the reader (``AddressRoles``) reads it: the
    container's at docker rm, the gateway's and the --aux-address's at network rm."""
    exchanges = [e for e in recording.load(rec).exchanges
                 if e.endpoint == Endpoint.RELEASE_ADDRESS.value and e.response is not None]
    roles = {}
    for exchange in exchanges:
        assert exchange.response is not None
        found = read_answer(exchange.endpoint, exchange.response.status, None,
                            exchange.response.raw_body, version,
                            request=exchange.request.value, role=exchange.address_role)
        assert found.outcome is Outcome.LOGGED and found.log_line is not None
        assert _logged(found.log_line, log), (found.log_line, log[-3000:])
        roles[exchange.request.value["Address"]] = exchange.address_role
    wanted = {"10.77.0.2": AddressRole.ENDPOINT, "10.77.0.1": AddressRole.GATEWAY}
    if case.aux_address:
        wanted[case.aux_address.split("=", 1)[1]] = AddressRole.AUX
    assert roles == wanted


def _replays_against_a_mock_of_itself(path: Path) -> None:
    """A recording of a plugin with this deviation, replayed against a mock that serves the
    recording's own answers, conforms: an answer identical to the recorded one never fails."""
    loaded = recording.load(path)
    spec = TargetSpec(label="mock", app_factory=lambda: MockPlugin(exchanges=loaded.exchanges))
    result = replay_recording(loaded, spec, Rules())
    assert result.verdicts
    assert result.ok, [(v.seq, v.endpoint, [p.message for p in v.problems])
                       for v in result.failures]


class _Flaky:
    """A plugin straight on dockerd's plugin socket (no proxy: the proxy answers for a
    plugin that cannot, so dockerd would never see a refusal or a hang-up through it) that
    leaves one call without an answer: ``refused`` closes the listening socket right after
    answering GetDefaultAddressSpaces (the socket file stays, so dockerd's next dial is
    refused) and listens again after ``reopen_s``; ``closed`` reads the first RequestPool and
    hangs up.
    Every request is kept with its arrival time."""

    def __init__(self, path: Path, mode: NoAnswer, reopen_s: float = 0.8) -> None:
        self.path, self.mode, self.reopen_s = path, mode, reopen_s
        self.seen: list[tuple[float, str, bytes]] = []
        self.stopped = threading.Event()
        self.listener = self._listen()
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def _listen(self) -> socket.socket:
        self.path.unlink(missing_ok=True)
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(self.path))
        server.listen(16)
        return server

    def _accept(self, server: socket.socket) -> None:
        while not self.stopped.is_set():
            try:
                sock, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _reopen(self) -> None:
        if not self.stopped.wait(self.reopen_s):
            self.listener = self._listen()
            self._accept(self.listener)

    def _serve(self, sock: socket.socket) -> None:
        with sock, contextlib.suppress(OSError):
            request_tap = tap.RequestTap()
            while True:
                result = request_tap.next_message()
                if result is tap.NEED_DATA:
                    data = sock.recv(65536)
                    if not data:
                        return
                    request_tap.feed(data)
                    continue
                if not isinstance(result, tap.WireMessage):
                    return
                endpoint = result.target.lstrip("/")
                self.seen.append((time.monotonic(), endpoint, result.body))
                first_pool = [e for _t, e, _b in self.seen].count(
                    Endpoint.REQUEST_POOL.value) == 1
                if endpoint == Endpoint.REQUEST_POOL.value and first_pool \
                        and self.mode is NoAnswer.CLOSED:
                    return  # read, never answered
                answer = _FLAKY_ANSWERS.get(endpoint, {})
                if endpoint == Endpoint.GET_DEFAULT_ADDRESS_SPACES.value \
                        and self.mode is NoAnswer.REFUSED and not self._refused_once():
                    self._stop_listening()  # the next dial is refused
                    threading.Thread(target=self._reopen, daemon=True).start()
                    sock.sendall(http(200, json.dumps(answer).encode(), headers=(
                        "Content-Type: application/json", "Connection: close")))
                    return
                sock.sendall(ok(answer))
                if not request_tap.answered(keep_alive=True):
                    return

    def _refused_once(self) -> bool:
        return [e for _t, e, _b in self.seen].count(Endpoint.GET_DEFAULT_ADDRESS_SPACES.value) > 1

    def _stop_listening(self) -> None:
        # shutdown wakes the thread blocked in accept(); close alone would leave the kernel's
        # socket listening until that accept() returned.
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()

    def close(self) -> None:
        self.stopped.set()
        self._stop_listening()
        self.path.unlink(missing_ok=True)


_FLAKY_ANSWERS: dict[str, object] = {
    "Plugin.Activate": {"Implements": ["IpamDriver"]},
    "IpamDriver.GetDefaultAddressSpaces": {"LocalDefaultAddressSpace": "L",
                                           "GlobalDefaultAddressSpace": "G"},
    "IpamDriver.RequestPool": {"PoolID": "p1", "Pool": SUBNET, "Data": {}},
    "IpamDriver.RequestAddress": {"Address": "10.77.0.1/24"},
}


@pytest.mark.parametrize("failure", list(NoAnswer), ids=str)
def test_refused_and_closed_calls_are_retried_as_the_verdict_says(
        dockerd: Docker, failure: NoAnswer) -> None:
    """``read_no_answer`` on the real daemon: a refused call (nothing was sent) is retried 1 s
    later with its body; a call whose connection closed without an answer is retried 1 s
    later with an EMPTY body (its request buffer is spent). Both retries succeed here, so
    ``docker network create`` succeeds, and dockerd logs the error the verdict names."""
    name = f"ipx{uuid.uuid4().hex[:8]}"
    path = PLUGIN_DIR / f"{name}.sock"
    log_start = dockerd.log.stat().st_size
    plugin = _Flaky(path, failure)
    try:
        created = dockerd.run("network", "create", "-d", "bridge", "--ipam-driver", name,
                              "--subnet", SUBNET, name, check=False, timeout=90)
        dockerd.run("network", "rm", name, check=False, timeout=90)
    finally:
        plugin.close()
    log = dockerd.log.read_text(errors="replace")[log_start:]
    assert created.returncode == 0, created.stderr
    # The call that got no answer: RequestPool when closed; when refused, the first call after
    # GetDefaultAddressSpaces (RequestPool on 20.10 and 26.1; 28.5 asks for the spaces again).
    retried = re.findall(r"Unable to connect to plugin: \S*/([A-Za-z]+\.[A-Za-z]+): ", log)
    assert retried, log[-2000:]
    endpoint = Endpoint(retried[0])
    verdict = read_no_answer(endpoint, failure, dockerd.version, socket=str(path))
    assert verdict.outcome is Outcome.RETRIED and verdict.retry_after == 1.0
    assert verdict.error is not None
    assert verdict.error.replace('"', '\\"') + ", retrying in 1s" in log, log[-2000:]
    calls = [(t, body) for t, called, body in plugin.seen if called == endpoint.value]
    if failure is NoAnswer.CLOSED:
        assert endpoint is Endpoint.REQUEST_POOL
        assert len(calls) == 2, plugin.seen
        assert calls[0][1].strip() and calls[1][1] == b""  # the retry's body is empty
        assert verdict.retry_empty_body
        assert calls[1][0] - calls[0][0] >= 0.9
    else:
        assert not verdict.retry_empty_body
        trigger = next(t for t, called, _b in plugin.seen
                       if called == Endpoint.GET_DEFAULT_ADDRESS_SPACES.value)
        later = [(t, body) for t, body in calls if t > trigger]
        assert later and later[0][0] - trigger >= 0.9, plugin.seen  # one backoff after it
        if endpoint is Endpoint.REQUEST_POOL:  # the refused attempt never reached the plugin
            assert len(calls) == 1 and json.loads(calls[0][1])["Pool"] == SUBNET
