"""The swarm-only rows on the real dockerd (20.10.24, 26.1.5, 28.5.2): AllocateNetwork,
FreeNetwork, DiscoverNew and GwAllocCheck driven end to end, dockerd ⇄ ipamx-spy proxy ⇄ a
network driver plugin (in the test) that answers the case's call with the case's answer and
every other call correctly. The docker command's outcome and dockerd's log must be what
``read_answer`` says for that answer, on that daemon, for the request as the proxy recorded it.

One single-node swarm per daemon and module: a dockerd of the selected version started in a
network namespace of its own (so that the swarm's ports and state touch neither the session's
daemon nor the other CI groups' daemons, which run at the same time) with a veth pair's address to
advertise, ``docker swarm init`` once, ``swarm leave --force`` at the end. Every case has a
fresh plugin name, so dockerd activates it afresh: on a swarm node, registering the driver
sends DiscoverNew (the node's own address, ``BindAddress`` set); a driver whose ``Scope`` is
``global`` makes ``docker network create`` a swarm network, which the manager's allocator
allocates after the command has returned (AllocateNetwork) and frees after ``docker network
rm`` has returned (FreeNetwork). GwAllocCheck needs ``GwAllocChecker: true`` in the
capabilities and a daemon of 28 or later (older ones never send it, which is checked too).

DiscoverDelete is not here: dockerd sends it only when another node leaves the gossip
cluster (README, Known limits)."""

from __future__ import annotations

import contextlib
import json
import random
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from docker_env import (
    PLUGIN_DIR,
    Daemon,
    Docker,
    spawn_spy,
    start_dockerd,
    stop_dockerd,
    unmount_below,
)
from fakeplugin import FakePlugin, http, ok
from test_dockerd_real import _LOGGER_FIELDS, _fields, _value_pattern, _without_host_warnings
from verdict_cases import SWARM_CASES, Case

from ipamx_spy import recording
from ipamx_spy.dockerd import Endpoint, Outcome, Verdict, read_answer
from ipamx_spy.dockerd.verdict import DEBUG_ONLY

RELAY_TOOL = "socat"  # what the managed plugin runs: its socket to the proxy's, byte for byte
WAIT_S = 30.0  # for what dockerd does after the command returned (allocator, log)


def _managed(case: Case) -> bool:
    """Swarm refuses a legacy plugin for a global-scope network ("legacy plugin … is not
    supported in swarm mode"): the allocator's calls need a managed plugin."""
    return (case.capabilities or {}).get("Scope") == "global"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="module")
def swarm_node(daemon: Daemon) -> Iterator[Docker]:
    """``daemon`` started in a network namespace of its own, a single-node swarm manager
    advertising an address of its own; left and removed afterwards."""
    netns = f"ipxs{uuid.uuid4().hex[:6]}"
    address = f"198.18.{random.randint(1, 254)}.1"
    workdir = Path(tempfile.mkdtemp(prefix="ipx-sw-", dir="/tmp"))
    _ip("netns", "add", netns)
    docker: Docker | None = None
    try:
        _ip("-n", netns, "link", "set", "lo", "up")
        # a veth pair inside the namespace (this kernel has no dummy driver): an address to
        # advertise that nothing outside can reach
        _ip("-n", netns, "link", "add", "swarm0", "type", "veth", "peer", "name", "swarm1")
        _ip("-n", netns, "addr", "add", f"{address}/24", "dev", "swarm0")
        _ip("-n", netns, "link", "set", "swarm1", "up")
        _ip("-n", netns, "link", "set", "swarm0", "up")
        docker = start_dockerd(workdir, daemon=daemon, netns=netns)
        docker.run("swarm", "init", "--advertise-addr", address,
                   "--listen-addr", f"{address}:2377", timeout=120)
        yield docker
    finally:
        if docker is not None:
            docker.run("swarm", "leave", "--force", check=False, timeout=60)
            stop_dockerd(docker)
        unmount_below(workdir)
        shutil.rmtree(workdir, ignore_errors=True)
        subprocess.run(["ip", "netns", "del", netns], capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def relay_rootfs() -> Iterator[Path]:
    """A managed plugin's root file system holding only ``socat`` (as ``/relay``) and the
    libraries it loads (``ldd``), made once per module."""
    tool = shutil.which(RELAY_TOOL)
    if tool is None:
        pytest.fail(f"{RELAY_TOOL} is not installed (Debian package socat)")
    root = Path(tempfile.mkdtemp(prefix="ipx-relay-", dir="/tmp"))
    try:
        libraries = re.findall(r"(/\S+) \(0x", subprocess.run(
            ["ldd", tool], check=True, capture_output=True, text=True, timeout=30).stdout)
        for path in libraries:
            target = root / "rootfs" / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(path).resolve(), target)
        shutil.copy2(tool, root / "rootfs" / "relay")
        for folder in ("run/docker/plugins", "up", "tmp"):
            (root / "rootfs" / folder).mkdir(parents=True, exist_ok=True)
        yield root / "rootfs"
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def _managed_relay(docker: Docker, rootfs: Path, name: str, spy_socket: Path) -> Iterator[str]:
    """Managed plugin ``name`` (a network driver) whose socket ``socat`` relays to
    ``spy_socket`` (its folder bind-mounted in), enabled; removed afterwards. Yields the
    driver's name as dockerd registers it (``name:latest``)."""
    folder = spy_socket.parent / "plugin"
    shutil.copytree(rootfs, folder / "rootfs", symlinks=True)
    (folder / "config.json").write_text(json.dumps({
        "description": "ipamx-spy test relay", "documentation": "tests",
        "entrypoint": ["/relay", "UNIX-LISTEN:/run/docker/plugins/relay.sock,fork",
                       f"UNIX-CONNECT:/up/{spy_socket.name}"],
        "interface": {"types": ["docker.networkdriver/1.0"], "socket": "relay.sock"},
        "network": {"type": "host"},
        "mounts": [{"source": str(spy_socket.parent), "destination": "/up", "type": "bind",
                    "options": ["rbind"]}],
        "linux": {"capabilities": []},
    }))
    docker.run("plugin", "create", name, str(folder), timeout=120)
    try:
        docker.run("plugin", "enable", name, timeout=120)
        yield f"{name}:latest"
    finally:
        docker.run("plugin", "disable", "-f", name, check=False, timeout=60)
        docker.run("plugin", "rm", "-f", name, check=False, timeout=60)


def _answers(case: Case) -> dict[str, Callable[[bytes], bytes]]:
    """A network driver that answers correctly, except for the case's call."""
    return {
        "Plugin.Activate": lambda _b: ok({"Implements": ["NetworkDriver"]}),
        "NetworkDriver.GetCapabilities": lambda _b: ok(case.capabilities or {"Scope": "local"}),
        case.endpoint.value: lambda _b: http(case.status, case.body),
    }


def _until(what: str, found: Callable[[], bool], log: Callable[[], str]) -> None:
    """Poll ``found`` until it holds; fail with dockerd's log after ``WAIT_S``."""
    deadline = time.monotonic() + WAIT_S
    while not found():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {WAIT_S:g} s; dockerd's log:\n{log()[-3000:]}")
        time.sleep(0.1)


def _logged(log_line: str, log: str) -> bool:
    """Some line of dockerd's log carries every field of the verdict's ``log_line`` (a
    sentence-style line is the ``msg``) with the same value, whole, a placeholder standing
    for any id or name; the logger's other fields (swarmkit's ``module=``, ``node.id=``) may
    be there too."""
    wanted = _fields(log_line) if log_line.startswith("msg=") else {"msg": log_line}
    patterns = {key: _value_pattern(value) for key, value in wanted.items()}
    for line in log.splitlines():
        got = {k: v for k, v in _fields(line).items() if k not in _LOGGER_FIELDS}
        if all(key in got and pattern.fullmatch(got[key])
               for key, pattern in patterns.items()):
            return True
    return False


@pytest.mark.docker
@pytest.mark.parametrize("stated", SWARM_CASES, ids=lambda c: c.id)
def test_swarm_verdict_matches_the_real_daemon(swarm_node: Docker, relay_rootfs: Path,
                                               sockdir: Path, stated: Case) -> None:
    docker = swarm_node
    case = stated.on(docker.daemon.label)
    name = f"ipx{uuid.uuid4().hex[:8]}"
    upstream, rec = sockdir / "up.sock", sockdir / "rec.jsonl"
    listen = sockdir / "spy.sock" if _managed(case) else PLUGIN_DIR / f"{name}.sock"
    log_start = docker.log.stat().st_size

    def log() -> str:
        return docker.log.read_text(errors="replace")[log_start:]

    with FakePlugin(upstream, _answers(case)) as plugin, contextlib.ExitStack() as stack:
        spy = spawn_spy(["proxy", "--listen", str(listen), "--upstream", str(upstream),
                         "--record", str(rec), "--compact"], listen, rec)
        stack.callback(spy.stop)
        driver = stack.enter_context(_managed_relay(docker, relay_rootfs, name, listen)) \
            if _managed(case) else name

        def called(endpoint: Endpoint) -> bool:
            return any(r.target == endpoint.path for r in plugin.requests)

        created = docker.run("network", "create", "-d", driver, name, check=False, timeout=90)
        if created.returncode == 0 and _managed(case):
            # the allocator's call comes after the command returned
            _until("no AllocateNetwork", lambda: called(Endpoint.ALLOCATE_NETWORK), log)
        removed = docker.run("network", "rm", name, check=False, timeout=90) \
            if created.returncode == 0 else None
        if case.endpoint is Endpoint.FREE_NETWORK:
            _until("no FreeNetwork", lambda: called(Endpoint.FREE_NETWORK), log)
    printed = _without_host_warnings(created.stderr)
    if not case.sent_by(docker.daemon.label):  # GwAllocCheck before 28: never asked
        assert not docker.wire.gw_alloc_check
        assert not called(case.endpoint), [r.target for r in plugin.requests]
        assert created.returncode == 0, printed
        assert removed is not None and removed.returncode == 0, removed.stderr
        return
    verdict, request = _recorded_verdict(rec, case, docker)
    assert (verdict.outcome, verdict.error) == (case.outcome, case.error)
    if verdict.outcome is Outcome.FAILS_COMMAND:
        assert created.returncode != 0, created.stdout
        assert verdict.cli_text is not None
        assert printed == verdict.cli_text == case.cli, (verdict.cli_text, printed)
        return
    assert created.returncode == 0, printed
    assert removed is not None and removed.returncode == 0, removed.stderr
    assert verdict.log_line is not None and verdict.shown_log_line == verdict.log_line
    _until(f"no log line {verdict.log_line!r}", lambda: _logged(verdict.log_line or "", log()),
           log)
    assert case.log in log()
    if case.endpoint is Endpoint.DISCOVER_NEW:  # the node itself, as the registration says
        data = request["DiscoveryData"]
        assert data["Self"] is True and data["BindAddress"], request
    else:  # the swarm network's id, as network create printed it
        assert request["NetworkID"] == created.stdout.strip()
        assert created.stdout.strip() in verdict.log_line


def _recorded_verdict(rec: Path, case: Case, docker: Docker) -> tuple[Verdict, dict[str, Any]]:
    """The verdict on the case's call as the (stopped) proxy recorded it, and its request,
    after checking that dockerd got the case's answer."""
    exchanges = [e for e in recording.load(rec).exchanges if e.endpoint == case.endpoint.value]
    assert exchanges, "the proxy recorded the call"
    answer = exchanges[0].response
    assert answer is not None
    assert (answer.status, answer.raw_body) == (case.status, case.body)
    request = exchanges[0].request.value
    assert isinstance(request, dict)
    return read_answer(case.endpoint, answer.status, answer.headers, answer.raw_body,
                       docker.version, request=request), request


@pytest.mark.parametrize("version", ["20.10.24", "26.1.5", "28.5.2"])
def test_a_gossip_member_s_discovery_is_logged_at_debug_level(version: str) -> None:
    """Read from the source, not observed (it needs a second node): DiscoverNew about
    another member of the gossip cluster (``BindAddress`` empty, ``pushNodeDiscovery``) is
    logged at debug level only, unlike the node's own at registration."""
    other = {"DiscoveryType": 1, "DiscoveryData": {
        "Address": "198.18.1.2", "BindAddress": "", "Self": False}}
    verdict = read_answer(Endpoint.DISCOVER_NEW, 200, [], b"", version, request=other)
    assert verdict.outcome is Outcome.LOGGED and verdict.log_line == DEBUG_ONLY
    assert verdict.shown_log_line is None
    assert verdict.sentence.endswith("dockerd carries on (logged at debug level)")
    own = read_answer(Endpoint.DISCOVER_NEW, 200, [], b"", version,
                      request={**other, "DiscoveryData": {
                          "Address": "198.18.1.1", "BindAddress": "198.18.1.1", "Self": True}})
    assert own.shown_log_line == "Failed the node discovery in driver: EOF"
    assert "warning" in own.sentence
