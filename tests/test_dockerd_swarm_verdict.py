"""The swarm-only rows on the real dockerd (20.10.24, 26.1.5, 28.5.2): AllocateNetwork,
FreeNetwork, DiscoverNew, DiscoverDelete and GwAllocCheck driven end to end, dockerd ⇄
ipamx-spy proxy ⇄ a network driver plugin (in the test) that answers the case's call with the
case's answer and every other call correctly. The docker command's outcome and dockerd's log
must be what ``read_answer`` says for that answer, on that daemon, for the request as the proxy
recorded it (``tests/verdict_cases.py``'s ``SWARM_CASES`` state what was seen).

One swarm per daemon and module (``Swarm``): a dockerd of the selected version started in a
network namespace of its own (so that the swarm's ports and state touch neither the session's
daemon nor the other CI groups' daemons, which run at the same time), advertising a veth
pair's address; ``docker swarm init`` once; a second dockerd in the pair's other namespace
joins and leaves for the cases about another member. Every case has a fresh plugin name, so
dockerd activates it afresh: on a swarm node, registering the driver sends DiscoverNew (the
node's own address, ``BindAddress`` set); a member joining the gossip cluster sends
DiscoverNew, and leaving it DiscoverDelete, to drivers whose ``ConnectivityScope`` is
``global``; a driver whose ``Scope`` is ``global`` makes ``docker network create`` a swarm
network, which the manager's allocator allocates after the command has returned
(AllocateNetwork) and frees after ``docker network rm`` has returned (FreeNetwork), and swarm
takes such a network only from a managed plugin (a ``socat`` relay here). GwAllocCheck needs
``GwAllocChecker: true`` in the capabilities and a daemon of 28 or later (older ones never
send it, which is checked too)."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from docker_env import (
    PLUGIN_DIR,
    Daemon,
    Docker,
    _unavailable,
    spawn_spy,
    start_dockerd,
    stop_dockerd,
    unmount_below,
)
from fakeplugin import FakePlugin, http, ok
from test_dockerd_real import _LOGGER_FIELDS, _fields, _value_pattern, _without_host_warnings
from verdict_cases import GLOBAL, MEMBER, SWARM_CASES, Case

from ipamx_spy import recording
from ipamx_spy.dockerd import Endpoint, Outcome, Verdict, read_answer
from ipamx_spy.dockerd.verdict import DEBUG_ONLY

RELAY_TOOL = "socat"  # what the managed plugin runs: its socket to the proxy's, byte for byte
MANAGER_NODE = "node1"  # the recordings' host: the manager's --context in docs/swarm/driver/
WAIT_S = 60.0  # for what dockerd does after the command returned (allocator, gossip, log)
MEMBER_WAIT_S = 180.0
"""For the notices of a member joining or leaving: dockerd tells the drivers of global
connectivity one after the other, and each earlier test's driver whose socket is gone holds the
rest up by its retries (1 + 2 + 4 + 8 s): four of them fit, with room for a loaded machine."""
CAPTURES_ENV = "IPAMX_SPY_SWARM_VERDICT_CAPTURES"
"""A folder: each case's recording (the proxy's, whole) is copied to ``DIR/<label>/<id>.jsonl``
(docs/swarm/driver/ was made so)."""


NETWORK_ONLY = ("docker.networkdriver/1.0",)
AS_BUILT = ("docker.ipamdriver/1.0", "docker.networkdriver/1.0")
"""What ``ipamx-spy plugin build`` declares, in its order (the emulator's managed plugin)."""


def _managed(case: Case) -> bool:
    """Swarm refuses a legacy plugin for a global-scope network ("legacy plugin … is not
    supported in swarm mode"): the allocator's calls need a managed plugin."""
    return (case.capabilities or {}).get("Scope") == "global"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


@dataclass
class Swarm:
    """A single-node swarm: the manager's dockerd in network namespace ``netns[0]``, joined by
    a veth pair to ``netns[1]``, where a second dockerd (the worker, started when a case
    first needs it) can join the swarm and leave it again."""

    daemon: Daemon
    netns: tuple[str, str]
    addresses: tuple[str, str]
    workdirs: tuple[Path, Path]
    manager: Docker | None = None
    worker: Docker | None = None

    def start(self) -> Swarm:
        for netns in self.netns:
            _ip("netns", "add", netns)
            _ip("-n", netns, "link", "set", "lo", "up")
        # this kernel has no dummy driver: a veth pair between the two namespaces gives each
        # node an address that nothing outside reaches
        _ip("-n", self.netns[0], "link", "add", "swarm0", "type", "veth", "peer", "name",
            "swarm1", "netns", self.netns[1])
        links = ("swarm0", "swarm1")
        for netns, link, address in zip(self.netns, links, self.addresses, strict=True):
            _ip("-n", netns, "addr", "add", f"{address}/24", "dev", link)
            _ip("-n", netns, "link", "set", link, "up")
        self.manager = start_dockerd(self.workdirs[0], daemon=self.daemon, netns=self.netns[0])
        self.manager.run("swarm", "init", "--advertise-addr", self.addresses[0],
                         "--listen-addr", f"{self.addresses[0]}:2377", timeout=120)
        return self

    def member_comes_and_goes(self, joined: Callable[[], bool],
                              log: Callable[[], str]) -> None:
        """The worker joins the swarm (its gossip reaches the manager: ``joined`` must come
        to hold) and leaves it."""
        if self.worker is None:
            self.worker = start_dockerd(self.workdirs[1], daemon=self.daemon,
                                        netns=self.netns[1])
        assert self.manager is not None
        token = self.manager.run("swarm", "join-token", "-q", "worker").stdout.strip()
        self.worker.run("swarm", "join", "--token", token, "--advertise-addr",
                        self.addresses[1], "--listen-addr", f"{self.addresses[1]}:2377",
                        f"{self.addresses[0]}:2377", timeout=120)
        try:
            _until("the worker's gossip did not reach the manager", joined, log, MEMBER_WAIT_S)
        finally:
            self.worker.run("swarm", "leave", "--force", timeout=120)

    def close(self) -> None:
        for docker in (self.worker, self.manager):
            if docker is not None:
                docker.run("swarm", "leave", "--force", check=False, timeout=60)
                stop_dockerd(docker)
        for workdir in self.workdirs:
            unmount_below(workdir)
            shutil.rmtree(workdir, ignore_errors=True)
        for netns in self.netns:
            subprocess.run(["ip", "netns", "del", netns], capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def swarm(daemon: Daemon) -> Iterator[Swarm]:
    """``daemon`` as the manager of a swarm of its own (see ``Swarm``); left and removed
    afterwards, the worker too."""
    tag, third = uuid.uuid4().hex[:6], random.randint(1, 254)
    made = Swarm(daemon=daemon, netns=(f"ipxs{tag}m", f"ipxs{tag}w"),
                 addresses=(f"198.18.{third}.1", f"198.18.{third}.2"),
                 workdirs=tuple(Path(tempfile.mkdtemp(prefix=f"ipx-sw{n}-", dir="/tmp"))
                                for n in "mw"))  # type: ignore[arg-type]
    try:
        yield made.start()
    finally:
        made.close()


@pytest.fixture(scope="module")
def relay_rootfs() -> Iterator[Path]:
    """A managed plugin's root file system holding only ``socat`` (as ``/relay``) and the
    libraries it loads (``ldd``), made once per module."""
    tool = shutil.which(RELAY_TOOL)
    if tool is None:
        _unavailable(f"{RELAY_TOOL} is not installed (Debian package socat)")
        raise AssertionError("unreachable")
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
def _managed_relay(docker: Docker, rootfs: Path, name: str, spy_socket: Path,
                   types: tuple[str, ...] = NETWORK_ONLY) -> Iterator[str]:
    """Managed plugin ``name`` (a network driver, and whatever else ``types`` declares) whose
    socket ``socat`` relays to ``spy_socket`` (its folder bind-mounted in), enabled; removed
    afterwards. Yields the driver's name as dockerd registers it (``name:latest``)."""
    folder = spy_socket.parent / "plugin"
    shutil.copytree(rootfs, folder / "rootfs", symlinks=True)
    (folder / "config.json").write_text(json.dumps({
        "description": "ipamx-spy test relay", "documentation": "tests",
        "entrypoint": ["/relay", "UNIX-LISTEN:/run/docker/plugins/relay.sock,fork",
                       f"UNIX-CONNECT:/up/{spy_socket.name}"],
        "interface": {"types": list(types), "socket": "relay.sock"},
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
    """A network driver that answers correctly, except for the case's call (a DiscoverNew:
    of the case's kind, the node's own or another member's)."""
    def discover_new(body: bytes) -> bytes:
        if _self_discovery(json.loads(body)) == _self_discovery(case.request):
            return http(case.status, case.body)
        return ok({})

    return {
        "Plugin.Activate": lambda _b: ok({"Implements": ["NetworkDriver"]}),
        Endpoint.GET_DEFAULT_ADDRESS_SPACES.value: lambda _b: ok({
            "LocalDefaultAddressSpace": "LocalDefault",
            "GlobalDefaultAddressSpace": "GlobalDefault"}),
        "NetworkDriver.GetCapabilities": lambda _b: ok(case.capabilities or {"Scope": "local"}),
        case.endpoint.value: lambda _b: http(case.status, case.body),
        **({Endpoint.DISCOVER_NEW.value: discover_new}
           if case.endpoint is Endpoint.DISCOVER_NEW else {}),
    }


def _self_discovery(request: Any) -> bool:
    """A DiscoverNew about the node itself (sent when the driver registers): BindAddress set."""
    data = request.get("DiscoveryData") if isinstance(request, dict) else None
    return isinstance(data, dict) and bool(data.get("BindAddress"))


def _needs_member(case: Case) -> bool:
    """The call comes when another node joins the gossip cluster or leaves it."""
    return case.endpoint is Endpoint.DISCOVER_DELETE or (
        case.endpoint is Endpoint.DISCOVER_NEW and not _self_discovery(case.request))


def _until(what: str, found: Callable[[], bool], log: Callable[[], str],
           wait_s: float = WAIT_S) -> None:
    """Poll ``found`` until it holds; fail with dockerd's log after ``wait_s``."""
    deadline = time.monotonic() + wait_s
    while not found():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {wait_s:g} s; dockerd's log:\n{log()[-3000:]}")
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


@dataclass
class Served:
    """One case's plugin: the fake network driver behind ``ipamx-spy proxy`` (recording),
    legacy or behind a managed relay; ``driver`` is what ``docker network create -d`` names."""

    case: Case
    name: str
    driver: str
    plugin: FakePlugin
    rec: Path

    def called(self, endpoint: Endpoint, times: int = 1) -> bool:
        return [r.target for r in self.plugin.requests].count(endpoint.path) >= times

    def verdict(self, docker: Docker) -> tuple[Verdict, dict[str, Any]]:
        """The verdict on the case's call as the (stopped) proxy recorded it (the one given
        the case's answer), and its request."""
        exchanges = [e for e in recording.load(self.rec).exchanges
                     if e.endpoint == self.case.endpoint.value and e.response is not None
                     and (e.response.status, e.response.raw_body)
                     == (self.case.status, self.case.body)]
        assert len(exchanges) == 1, "the proxy recorded the call, given the case's answer"
        answer, request = exchanges[0].response, exchanges[0].request.value
        assert answer is not None and isinstance(request, dict)
        return read_answer(self.case.endpoint, answer.status, answer.headers, answer.raw_body,
                           docker.version, request=request), request


@contextlib.contextmanager
def _served(docker: Docker, rootfs: Path, folder: Path, case: Case,
            types: tuple[str, ...] = NETWORK_ONLY) -> Iterator[Served]:
    """The case's plugin under a fresh name (dockerd activates it afresh), until the proxy
    has stopped and its recording is whole."""
    folder.mkdir()
    name = f"ipx{uuid.uuid4().hex[:8]}"
    upstream, rec = folder / "up.sock", folder / "rec.jsonl"
    listen = folder / "spy.sock" if _managed(case) else PLUGIN_DIR / f"{name}.sock"
    with FakePlugin(upstream, _answers(case)) as plugin, contextlib.ExitStack() as stack:
        spy = spawn_spy(["proxy", "--listen", str(listen), "--upstream", str(upstream),
                         "--control", str(folder / "ctl"), "--record", str(rec), "--compact",
                         "--host-id", MANAGER_NODE],
                        listen, rec)
        stack.callback(spy.stop)
        driver = stack.enter_context(_managed_relay(docker, rootfs, name, listen, types)) \
            if _managed(case) else name
        yield Served(case=case, name=name, driver=driver, plugin=plugin, rec=rec)
    _keep(docker, case, rec)


def _keep(docker: Docker, case: Case, rec: Path) -> None:
    """With ``IPAMX_SPY_SWARM_VERDICT_CAPTURES=DIR``, a copy of the case's recording."""
    folder = os.environ.get(CAPTURES_ENV)
    if folder and rec.exists():
        target = Path(folder) / docker.daemon.label / f"{case.id}.jsonl"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(rec, target)


def _log_since(docker: Docker) -> Callable[[], str]:
    start = docker.log.stat().st_size
    return lambda: docker.log.read_text(errors="replace")[start:]


@pytest.mark.docker
@pytest.mark.parametrize("stated", [c for c in SWARM_CASES if not _needs_member(c)],
                         ids=lambda c: c.id)
def test_swarm_verdict_matches_the_real_daemon(swarm: Swarm, relay_rootfs: Path,
                                               sockdir: Path, stated: Case) -> None:
    docker = swarm.manager
    assert docker is not None
    case = stated.on(docker.daemon.label)
    log = _log_since(docker)
    with _served(docker, relay_rootfs, sockdir / "0", case) as served:
        created = docker.run("network", "create", "-d", served.driver, served.name,
                             check=False, timeout=90)
        if created.returncode == 0 and _managed(case):
            # the allocator's call comes after the command returned
            _until("no AllocateNetwork", lambda: served.called(Endpoint.ALLOCATE_NETWORK), log)
        removed = docker.run("network", "rm", served.name, check=False, timeout=90) \
            if created.returncode == 0 else None
        if case.endpoint is Endpoint.FREE_NETWORK:
            _until("no FreeNetwork", lambda: served.called(Endpoint.FREE_NETWORK), log)
    printed = _without_host_warnings(created.stderr)
    if not case.sent_by(docker.daemon.label):  # GwAllocCheck before 28: never asked
        assert not docker.wire.gw_alloc_check
        assert not served.called(case.endpoint), [r.target for r in served.plugin.requests]
        assert created.returncode == 0, printed
        assert removed is not None and removed.returncode == 0, removed.stderr
        return
    verdict, request = served.verdict(docker)
    assert (verdict.outcome, verdict.error) == (case.outcome, case.error)
    if verdict.outcome is Outcome.FAILS_COMMAND:
        assert created.returncode != 0, created.stdout
        assert verdict.cli_text is not None
        assert printed == verdict.cli_text == case.cli, (verdict.cli_text, printed)
        return
    assert created.returncode == 0, printed
    assert removed is not None and removed.returncode == 0, removed.stderr
    _logged_as_the_verdict_says(verdict, case, log)
    if case.endpoint is Endpoint.DISCOVER_NEW:  # the node itself, as the registration says
        data = request["DiscoveryData"]
        assert data["Self"] is True and data["BindAddress"] == swarm.addresses[0], request
    else:  # the swarm network's id, as network create printed it
        assert request["NetworkID"] == created.stdout.strip()
        assert verdict.log_line is not None and created.stdout.strip() in verdict.log_line


MEMBER_SUBNET = "10.66.0.0/24"
ANSWERED = b"{}\n"  # what a driver that has nothing to say answers to every swarm call
ALLOCATED = Case(id="managed-global-network", endpoint=Endpoint.FREE_NETWORK, status=200,
                 body=ANSWERED, outcome=Outcome.SUCCESS, error=None, netdriver=True,
                 capabilities=GLOBAL)
DISCOVERED = Case(id="member-comes-and-goes", endpoint=Endpoint.DISCOVER_DELETE, status=200,
                  body=ANSWERED, outcome=Outcome.SUCCESS, error=None, netdriver=True,
                  capabilities=MEMBER)


@pytest.mark.docker
def test_a_managed_global_network_is_allocated_and_freed_after_its_commands(
        swarm: Swarm, relay_rootfs: Path, sockdir: Path) -> None:
    """Every call answered: ``network create`` of a managed ``Scope: global`` driver returns,
    then the allocator's AllocateNetwork comes (the network's id, its IPv4 pool and gateway
    as swarmkit chose them); ``network rm`` returns, then FreeNetwork comes with the id. The
    session is what ``docs/swarm/driver/`` holds (``IPAMX_SPY_SWARM_VERDICT_CAPTURES``) and the
    emulator plays (tests/test_swarm_emulator.py)."""
    docker = swarm.manager
    assert docker is not None
    log = _log_since(docker)
    with _served(docker, relay_rootfs, sockdir / "0", ALLOCATED, AS_BUILT) as served:
        network = docker.run("network", "create", "-d", served.driver, served.name,
                             timeout=90).stdout.strip()
        _until("no AllocateNetwork", lambda: served.called(Endpoint.ALLOCATE_NETWORK), log)
        docker.run("network", "rm", served.name, timeout=90)
        _until("no FreeNetwork", lambda: served.called(Endpoint.FREE_NETWORK), log)
    sent = {e.endpoint: e.request.value for e in recording.load(served.rec).exchanges}
    allocate = sent[Endpoint.ALLOCATE_NETWORK.value]
    assert isinstance(allocate, dict) and allocate["NetworkID"] == network, allocate
    assert [d["AddressSpace"] for d in allocate["IPv4Data"]] == [""], allocate
    assert sent[Endpoint.FREE_NETWORK.value] == {"NetworkID": network}
    assert Endpoint.CREATE_NETWORK.value not in sent  # no task of it on the manager


@pytest.mark.docker
def test_a_member_that_leaves_is_deleted_from_the_drivers_of_global_connectivity(
        swarm: Swarm, relay_rootfs: Path, sockdir: Path) -> None:
    """Every call answered: the worker joins (DiscoverNew, ``Self: false``) and leaves
    (DiscoverDelete with the same data); the session is in ``docs/swarm/driver/``."""
    docker = swarm.manager
    assert docker is not None
    log = _log_since(docker)
    with _served(docker, relay_rootfs, sockdir / "0", DISCOVERED) as served:
        # a subnet of its own: the default pool would be the next one the host's other
        # networks leave free, which the emulator does not know
        docker.run("network", "create", "-d", served.driver, "--subnet", MEMBER_SUBNET,
                   served.name, timeout=90)
        swarm.member_comes_and_goes(lambda: served.called(Endpoint.DISCOVER_NEW, 2), log)
        _until("no DiscoverDelete", lambda: served.called(Endpoint.DISCOVER_DELETE), log,
               MEMBER_WAIT_S)
        docker.run("network", "rm", served.name, timeout=90)
    member = {"DiscoveryType": 1, "DiscoveryData": {
        "Address": swarm.addresses[1], "BindAddress": "", "Self": False}}
    deleted = [e.request.value for e in recording.load(served.rec).exchanges
               if e.endpoint == Endpoint.DISCOVER_DELETE.value]
    assert deleted == [member]


@pytest.mark.docker
def test_member_discovery_verdicts_match_the_real_daemon(swarm: Swarm, relay_rootfs: Path,
                                                         sockdir: Path) -> None:
    """Every case about another node (DiscoverNew as it joins the gossip cluster,
    DiscoverDelete as it leaves) at once, each with its own plugin, over one join and leave
    of the worker: dockerd tells every registered driver whose ConnectivityScope is global
    of each member, one driver after the other, so a case's plugin left behind (its socket
    gone) would hold every later notification up by 15 s of retries: this test comes after
    the other member test, whose one plugin is then the only one left behind."""
    docker = swarm.manager
    assert docker is not None
    cases = [c.on(docker.daemon.label) for c in SWARM_CASES if _needs_member(c)]
    log = _log_since(docker)
    with contextlib.ExitStack() as stack:
        served = [stack.enter_context(_served(docker, relay_rootfs, sockdir / str(n), case))
                  for n, case in enumerate(cases)]
        for one in served:  # registers the driver (and tells it of the node itself)
            docker.run("network", "create", "-d", one.driver, one.name, timeout=90)
        swarm.member_comes_and_goes(
            lambda: all(one.called(Endpoint.DISCOVER_NEW, 2) for one in served), log)
        _until("no DiscoverDelete",
               lambda: all(one.called(Endpoint.DISCOVER_DELETE) for one in served), log,
               MEMBER_WAIT_S)
        for one in served:
            docker.run("network", "rm", one.name, timeout=90)
    for one in served:
        verdict, request = one.verdict(docker)
        assert (verdict.outcome, verdict.error) == (one.case.outcome, one.case.error), one.case
        assert request["DiscoveryData"] == {"Address": swarm.addresses[1], "BindAddress": "",
                                            "Self": False}, request
        _logged_as_the_verdict_says(verdict, one.case, log)


def _logged_as_the_verdict_says(verdict: Verdict, case: Case, log: Callable[[], str]) -> None:
    """A failure dockerd only logs: its line is in dockerd's log, whole, as the verdict words
    it (waited for: the allocator's lines come after the command returned), the case's text
    in it; one logged at debug level leaves no line with the error about the discovery."""
    assert verdict.outcome is Outcome.LOGGED and verdict.log_line is not None
    if verdict.log_line == DEBUG_ONLY:
        assert verdict.shown_log_line is None and not case.log
        assert not [line for line in log().splitlines()
                    if "discover" in line.lower() and str(case.error) in line], log()[-3000:]
        return
    assert verdict.shown_log_line == verdict.log_line
    _until(f"no log line {verdict.log_line!r}", lambda: _logged(verdict.log_line or "", log()),
           log)
    assert case.log and case.log in log()


@pytest.mark.parametrize("version", ["20.10.24", "26.1.5", "28.5.2"])
def test_a_member_s_discovery_is_logged_only_when_the_answer_cannot_be_read(
        version: str) -> None:
    """Another member's DiscoverNew (``BindAddress`` empty) is logged at debug level, unlike
    the node's own at registration, except by the plugin layer, which logs (at error level,
    as the DiscoverDelete case shows on every daemon) a 200 body it cannot decode."""
    other = {"DiscoveryType": 1, "DiscoveryData": {
        "Address": "198.18.1.2", "BindAddress": "", "Self": False}}
    refused = read_answer(Endpoint.DISCOVER_NEW, 500, [], b'{"Err":"x"}', version,
                          request=other)
    assert refused.log_line == DEBUG_ONLY and refused.shown_log_line is None
    assert refused.sentence.endswith("dockerd carries on (logged at debug level)")
    unread = read_answer(Endpoint.DISCOVER_NEW, 200, [], b"", version, request=other)
    assert unread.shown_log_line == "NetworkDriver.DiscoverNew: error reading plugin resp: EOF"
    assert unread.sentence.endswith("only its plugin layer logs the answer it cannot read")
    own = read_answer(Endpoint.DISCOVER_NEW, 200, [], b"", version,
                      request={**other, "DiscoveryData": {
                          "Address": "198.18.1.1", "BindAddress": "198.18.1.1", "Self": True}})
    assert own.shown_log_line == "Failed the node discovery in driver: EOF"
    assert "warning" in own.sentence
