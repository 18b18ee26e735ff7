"""Streamed inference (``infer.stream_sections``) gives whole-file inference's sections.

Small windows (8 and 16 calls) force many windows and the cut of long bursts. Every recording
of the corpus, with its markers and without them (then all of it is inferred), and
Hypothesis's sequences of realistic docker commands must stream into exactly the sections of
``infer.sections``, except in a burst longer than the window: such a burst is cut after every
``window`` calls from its first, the sections on each side of a cut say so, and every call is
kept in order. A marker's section longer than the window comes in parts under its text. A long
recording keeps what streaming carries from window to window bounded.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ipamx_spy import infer
from ipamx_spy import recording as rec
from ipamx_spy.infer import SERIAL_OPTION, Section
from ipamx_spy.recording import Exchange, Fault, Message, Recording, encode_body, go_json
from ipamx_spy.records import FaultKind, Side

ROOT = Path(__file__).resolve().parents[1]
CORPUS = sorted({*ROOT.glob("recordings/**/*.jsonl"), *ROOT.glob("tests/captures/**/*.jsonl"),
                 *ROOT.glob("scenarios/captures/*.jsonl")})
WINDOWS = (8, 16)
NOTE = "streamed inference cut this burst"


# -- comparing streamed and whole-file sections ---------------------------------------------

def _shape(section: Section) -> tuple[Any, ...]:
    return (section.title, section.source, section.t, section.seqs, section.detail,
            section.failed)


@dataclasses.dataclass(frozen=True)
class Expected:
    """Where streaming differs on purpose: the calls of bursts longer than the window, the cuts
    in them (the call before and the call after each), and the marker sections it parts."""

    long_calls: frozenset[int]
    cuts: tuple[tuple[int, int], ...]
    parted: tuple[frozenset[int], ...]  # the calls of each marker section parted


def _expected(exchanges: Sequence[Exchange], markers: Sequence[dict[str, Any]],
              window: int) -> Expected:
    ordered = sorted(exchanges, key=lambda e: e.seq)
    limit = min((int(m.get("after_seq", 0)) for m in markers), default=None)
    head = [e for e in ordered if limit is None or e.seq <= limit]
    long_calls: set[int] = set()
    cuts: list[tuple[int, int]] = []
    for burst in infer._bursts(infer.classify(head)):
        calls = [e.seq for _, group in burst for e in group]
        if len(calls) > window:
            long_calls.update(calls)
            cuts += [(calls[k - 1], calls[k]) for k in range(window, len(calls), window)]
    whole = infer.sections(Recording(header={}, records=tuple(markers),
                                     exchanges=tuple(exchanges)))
    parted = tuple(frozenset(s.seqs) for s in whole
                   if s.source == infer.MARKER and len(s.exchanges) > window)
    return Expected(long_calls=frozenset(long_calls), cuts=tuple(cuts), parted=parted)


def _streamed(exchanges: Sequence[Exchange], markers: Sequence[dict[str, Any]],
              window: int) -> list[Section]:
    """What ``show`` and the exports get: a first pass (the survey), then the stream."""
    survey = infer.LookaheadSurvey()
    for exchange in exchanges:
        survey.add(exchange)
    return list(infer.stream_sections(exchanges, markers, window=window,
                                      released_alone=survey.released_alone(markers)))


def _differs_on_purpose(section: Section, expected: Expected) -> bool:
    if section.source == infer.MARKER:
        return _part_of(section, expected) is not None
    return bool(set(section.seqs) & expected.long_calls)


def _part_of(section: Section, expected: Expected) -> frozenset[int] | None:
    """The parted marker section whose calls hold this one's (None: not a part)."""
    calls = set(section.seqs)
    return next((whole for whole in expected.parted if calls and calls <= whole), None)


def assert_streams_as_whole(exchanges: Sequence[Exchange],
                            markers: Sequence[dict[str, Any]], window: int) -> Expected:
    """Streamed sections are the whole file's, but where ``Expected`` says; returns that."""
    whole = infer.sections(Recording(header={}, records=tuple(markers),
                                     exchanges=tuple(exchanges)))
    streamed = _streamed(exchanges, markers, window)
    expected = _expected(exchanges, markers, window)
    assert [_shape(s) for s in streamed if not _differs_on_purpose(s, expected)] == \
        [_shape(s) for s in whole if not _differs_on_purpose(s, expected)]
    assert [seq for s in streamed for seq in s.seqs] == [seq for s in whole for seq in s.seqs]
    noted = {s.seqs for s in streamed if NOTE in s.detail}
    at_cuts: set[tuple[int, ...]] = set()
    for before, after in expected.cuts:
        note = infer.burst_cut_note(_by_seq(exchanges, before), _by_seq(exchanges, after),
                                    window)
        sides = [s for s in streamed if before in s.seqs or after in s.seqs]
        assert [s.seqs[-1] for s in sides if before in s.seqs] == [before]  # cut right there
        assert all(note in s.detail for s in sides)
        at_cuts.update(s.seqs for s in sides)
    assert noted == at_cuts  # a note only at a cut
    part_note = infer.marker_part_note(window)
    for whole_calls in expected.parted:
        parts = [s for s in streamed if s.source == infer.MARKER
                 and _part_of(s, expected) == whole_calls]
        assert all(len(p.exchanges) <= window for p in parts) and len(parts) > 1
        assert all(p.detail.endswith(part_note) for p in parts)
    assert not any(part_note in s.detail for s in streamed
                   if s.source != infer.MARKER or _part_of(s, expected) is None)
    return expected


def _by_seq(exchanges: Sequence[Exchange], seq: int) -> Exchange:
    return next(e for e in exchanges if e.seq == seq)


# -- the corpus -----------------------------------------------------------------------------

@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_recording_streams_into_its_whole_sections(path: Path, window: int) -> None:
    recording = rec.load(path)
    assert_streams_as_whole(recording.exchanges, recording.markers(), window)
    assert_streams_as_whole(recording.exchanges, (), window)  # all of it inferred


def _one_after_another(paths: Sequence[Path]) -> list[Exchange]:
    """The recordings' exchanges one after another, renumbered, 10 s apart."""
    out: list[Exchange] = []
    start = 0.0
    for path in paths:
        exchanges = sorted(rec.load(path).exchanges, key=lambda e: e.seq)
        for exchange in exchanges:
            out.append(dataclasses.replace(exchange, seq=len(out) + 1, t=start + exchange.t))
        start = (out[-1].t if out else 0.0) + 10.0
    return out


@pytest.mark.parametrize("window", WINDOWS)
def test_the_whole_corpus_in_one_file_streams_into_its_whole_sections(window: int) -> None:
    exchanges = _one_after_another(CORPUS)
    expected = assert_streams_as_whole(exchanges, (), window)
    assert len(expected.long_calls) < len(exchanges) // 2  # most of it compared exactly


def test_a_burst_longer_than_the_window_is_cut_every_window_calls_and_says_so() -> None:
    talk = sorted(rec.load(ROOT / "recordings" / "talk.jsonl").exchanges, key=lambda e: e.seq)
    back_to_back = [dataclasses.replace(e, seq=n, t=n * 0.001)
                    for n, e in enumerate(talk * 3, 1)]  # one burst of 33 calls
    streamed = _streamed(back_to_back, (), 8)
    assert _expected(back_to_back, (), 8).cuts == ((8, 9), (16, 17), (24, 25), (32, 33))
    sides = [(s.seqs[0], s.seqs[-1]) for s in streamed
             if "cut this burst between #8 and #9: it runs on past 8 calls" in s.detail]
    assert sides[0][1] == 8 and sides[-1][0] == 9
    assert_streams_as_whole(back_to_back, (), 8)


def test_without_a_first_pass_the_lookahead_stays_in_its_window() -> None:
    # docker run --ip right after docker network create, stopped 20 windows later: the first
    # pass knows its release is on its own (a container's address, no --aux-address)
    calls = Calls(network_driver=False)
    net = calls.create(0, aux=0)
    assert net is not None
    calls.run(net, by_value=True, pause=0.002)
    for _ in range(20):
        calls.run(net, pause=0.3)
    calls.stop(calls.containers[0], pause=0.3)
    whole = [_shape(s) for s in infer.infer(calls.exchanges)]
    assert [_shape(s) for s in _streamed(calls.exchanges, (), 8)] == whole
    blind = list(infer.stream_sections(calls.exchanges, (), window=8))
    assert [_shape(s) for s in blind] != whole  # read as an --aux-address of the create
    assert blind[0].title == "docker network create" and len(blind[0].exchanges) == 3


# -- realistic sequences --------------------------------------------------------------------

POOL_SPACE = 4  # subnets: pool ids come back after a network is removed, as dockerd's do
GW = {"RequestAddressType": "com.docker.network.gateway"}
PORTS: dict[str, list[Any]] = {"com.docker.network.endpoint.exposedports": [],
                               "com.docker.network.portmap": []}


@functools.lru_cache(maxsize=4096)
def _message(text: str, endpoint: str, status: int = 0) -> Message:
    """A request, or an answer with its ``status``, with the JSON ``text`` as its body (made
    once: the long recording repeats its bodies)."""
    body = encode_body((go_json(json.loads(text)) + "\n").encode())
    if status:
        return Message(status=status, reason="OK", headers=(), body=body)
    return Message(method="POST", target=f"/{endpoint}", headers=(), body=body)


@dataclasses.dataclass
class Network:
    pool: str
    gateway: str
    aux: list[str]
    subnet: int
    endpoints: int = 0


@dataclasses.dataclass
class Container:
    network: Network
    address: str
    endpoint: str


class Calls:
    """Docker commands as dockerd makes their calls (PROTOCOL.md section 5), against a model
    of the pools and addresses held; ``pause`` is the gap before a command's first call."""

    def __init__(self, *, network_driver: bool = True) -> None:
        self.network_driver = network_driver  # else an IPAM plugin alone: no NetworkDriver calls
        self.exchanges: list[Exchange] = []
        self.seq = 0
        self.t = 1.0
        self.networks: list[Network] = []
        self.containers: list[Container] = []
        self.services: list[tuple[Network, str]] = []
        self.next_host: dict[int, int] = {}

    def call(self, endpoint: str, request: Any, response: Any = None, *,
             gap: float = 0.002, status: int = 200, fault: bool = False) -> None:
        """One exchange; ``fault``: the plugin closed the connection without an answer."""
        self.t += gap
        if endpoint.startswith("NetworkDriver.") and not self.network_driver:
            return
        self.seq += 1
        self.exchanges.append(Exchange(
            seq=self.seq, conn=1, t=round(self.t, 6), endpoint=endpoint,
            request=_message(json.dumps(request), endpoint),
            response=None if fault else _message(
                json.dumps({} if response is None else response), endpoint, status),
            duration_ms=0.5,
            fault=Fault(side=Side.PLUGIN, kind=FaultKind.CLOSED, message="closed") if fault
            else None))

    def _host(self, subnet: int) -> str:
        host = self.next_host.get(subnet, 10)
        self.next_host[subnet] = host + 1
        return f"10.4.{subnet}.{host % 250 + 2}"

    def free_subnet(self, wanted: int) -> int | None:
        used = {n.subnet for n in self.networks}
        free = [s for s in range(POOL_SPACE) if s not in used]
        return min(free, key=lambda s: (s - wanted) % POOL_SPACE) if free else None

    def create(self, wanted: int, *, aux: int, sub_pool: bool = False,
               pause: float = 0.3) -> Network | None:
        subnet = self.free_subnet(wanted)
        if subnet is None:
            return None
        cidr = f"10.4.{subnet}.0/24"
        pool = f"LocalDefault/{cidr}" + (f"/10.4.{subnet}.128/25" if sub_pool else "")
        self.call("IpamDriver.RequestPool", {
            "AddressSpace": "LocalDefault", "Pool": cidr,
            "SubPool": f"10.4.{subnet}.128/25" if sub_pool else "", "Options": {}, "V6": False},
            {"PoolID": pool, "Pool": cidr, "Data": {}}, gap=pause)
        gateway = f"10.4.{subnet}.1"
        self.call("IpamDriver.RequestAddress", {"PoolID": pool, "Address": "", "Options": GW},
                  {"Address": f"{gateway}/24", "Data": {}})
        network = Network(pool=pool, gateway=gateway, aux=[], subnet=subnet)
        for _ in range(aux):
            address = self._host(subnet)
            self.call("IpamDriver.RequestAddress",
                      {"PoolID": pool, "Address": address, "Options": None},
                      {"Address": f"{address}/24", "Data": {}})
            network.aux.append(address)
        self.call("NetworkDriver.CreateNetwork", {"NetworkID": f"{subnet:064}", "Options": {},
                                                  "IPv4Data": [], "IPv6Data": []})
        self.networks.append(network)
        return network

    def remove(self, network: Network, *, pause: float = 0.3) -> None:
        for container in [c for c in self.containers if c.network is network]:
            self.stop(container, pause=pause)
        for service in [s for s in self.services if s[0] is network]:
            self.service_rm(service, pause=pause)
        self.call("NetworkDriver.DeleteNetwork", {"NetworkID": f"{network.subnet:064}"},
                  gap=pause)
        for address in [network.gateway, *network.aux]:
            self.call("IpamDriver.ReleaseAddress", {"PoolID": network.pool, "Address": address})
        self.call("IpamDriver.ReleasePool", {"PoolID": network.pool})
        self.networks.remove(network)

    def run(self, network: Network, *, by_value: bool = False, pause: float = 0.3,
            retried: bool = False) -> None:
        """docker run; ``retried``: its RequestAddress had no answer and was asked again 1 s
        later (dockerd's retry)."""
        address = self._host(network.subnet)
        asked = {"PoolID": network.pool, "Address": address if by_value else "",
                 "Options": None}
        if retried:
            self.call("IpamDriver.RequestAddress", asked, gap=pause, fault=True)
        self.call("IpamDriver.RequestAddress", asked, {"Address": f"{address}/24", "Data": {}},
                  gap=1.0 if retried else pause)
        network.endpoints += 1
        endpoint = f"{network.subnet:032}{network.endpoints:032}"
        ids = {"NetworkID": f"{network.subnet:064}", "EndpointID": endpoint}
        self.call("NetworkDriver.CreateEndpoint", {**ids, "Interface": {"Address":
                                                                        f"{address}/24"}},
                  {"Interface": {}})
        self.call("NetworkDriver.Join", {**ids, "SandboxKey": "/var/run/docker/netns/x",
                                         "Options": PORTS}, {"InterfaceName": {}})
        self.call("NetworkDriver.ProgramExternalConnectivity", {**ids, "Options": PORTS})
        self.containers.append(Container(network=network, address=address, endpoint=endpoint))

    def run_failing(self, network: Network, *, pause: float = 0.3) -> None:
        """docker run whose address the plugin refuses: the command fails, nothing is kept."""
        self.call("IpamDriver.RequestAddress",
                  {"PoolID": network.pool, "Address": "", "Options": None},
                  {"Err": "no available addresses"}, gap=pause, status=500)

    def stop(self, container: Container, *, pause: float = 0.3) -> None:
        ids = {"NetworkID": f"{container.network.subnet:064}",
               "EndpointID": container.endpoint}
        self.call("NetworkDriver.RevokeExternalConnectivity", ids, gap=pause)
        self.call("NetworkDriver.Leave", ids)
        self.call("NetworkDriver.DeleteEndpoint", ids)
        self.call("IpamDriver.ReleaseAddress", {"PoolID": container.network.pool,
                                                "Address": container.address})
        self.containers.remove(container)

    def service(self, network: Network, *, pause: float = 0.3) -> None:
        address = self._host(network.subnet)
        self.call("IpamDriver.RequestAddress", {"PoolID": network.pool, "Address": "",
                                                "Options": {SERIAL_OPTION: "true"}},
                  {"Address": f"{address}/24", "Data": {}}, gap=pause)
        self.services.append((network, address))

    def service_rm(self, service: tuple[Network, str], *, pause: float = 0.3) -> None:
        self.call("IpamDriver.ReleaseAddress", {"PoolID": service[0].pool,
                                                "Address": service[1]}, gap=pause)
        self.services.remove(service)


COMMAND = st.tuples(st.sampled_from(["create", "rm", "run", "run-ip", "run-retry", "run-fail",
                                     "stop", "service", "service-rm"]),
                    st.integers(0, POOL_SPACE - 1), st.integers(0, 2), st.booleans(),
                    st.sampled_from([0.002, 0.01, 0.3, 0.3, 2.0]))


def play(calls: Calls, command: tuple[str, int, int, bool, float]) -> None:
    """One docker command (skipped when the model has nothing it can act on)."""
    word, pick, aux, flag, pause = command
    networks, containers = calls.networks, calls.containers
    if word == "create":
        calls.create(pick, aux=aux, sub_pool=flag, pause=pause)
    elif word == "rm" and networks:
        calls.remove(networks[pick % len(networks)], pause=pause)
    elif word in {"run", "run-ip", "run-retry"} and networks:
        calls.run(networks[pick % len(networks)], by_value=word == "run-ip", pause=pause,
                  retried=word == "run-retry")
    elif word == "run-fail" and networks:
        calls.run_failing(networks[pick % len(networks)], pause=pause)
    elif word == "stop" and containers:
        calls.stop(containers[pick % len(containers)], pause=pause)
    elif word == "service" and networks:
        calls.service(networks[pick % len(networks)], pause=pause)
    elif word == "service-rm" and calls.services:
        calls.service_rm(calls.services[pick % len(calls.services)], pause=pause)


def _interleaved(exchanges: list[Exchange], swaps: Sequence[int]) -> list[Exchange]:
    """The file's order: answers that came out of number order (neighbours swapped)."""
    out = list(exchanges)
    for at in swaps:
        if at + 1 < len(out):
            out[at], out[at + 1] = out[at + 1], out[at]
    return out


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands=st.lists(COMMAND, min_size=1, max_size=40),
       swaps=st.lists(st.integers(0, 200), max_size=10),
       marker_at=st.none() | st.integers(0, 200), window=st.sampled_from(WINDOWS),
       network_driver=st.booleans())
def test_realistic_sequences_stream_into_their_whole_sections(
        commands: list[tuple[str, int, int, bool, float]], swaps: list[int],
        marker_at: int | None, window: int, network_driver: bool) -> None:
    calls = Calls(network_driver=network_driver)
    for command in commands:
        play(calls, command)
    exchanges = _interleaved(calls.exchanges, swaps)
    markers = [] if marker_at is None else [
        {"type": "marker", "t": 0.0, "after_seq": marker_at, "text": "from here"}]
    assert_streams_as_whole(exchanges, markers, window)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(commands=st.lists(COMMAND, min_size=1, max_size=30), network_driver=st.booleans())
def test_the_lookahead_pass_reads_as_the_growing_inference(
        commands: list[tuple[str, int, int, bool, float]], network_driver: bool) -> None:
    # ``GrowingInference`` reads each release's run over the exchanges so far (``_alone_at``);
    # whole-file ``classify`` reads the same rule from ``ReleaseLookahead``'s one pass
    calls = Calls(network_driver=network_driver)
    for command in commands:
        play(calls, command)
    growing = infer.GrowingInference()
    for exchange in calls.exchanges:
        growing.add(exchange)
    assert growing.sections() == infer.infer(calls.exchanges)


# -- bounded memory -------------------------------------------------------------------------

LONG = 60_000
"""Calls of the long recording: 58 windows of 1,024 (a run of 200,000 is the same, 3.3 times
as long; the sizes below stop growing within the first tenth)."""


def _long_commands() -> Iterator[tuple[str, int, int, bool, float]]:
    """Networks with aux addresses and sub-pools, containers with and without --ip (one right
    after its network's creation), swarm addresses, commands back to back and apart."""
    step = 0
    while True:
        step += 1
        pause = 0.002 if step % 7 == 0 else 0.3
        yield ("create", step, step % 3, step % 2 == 0, pause)
        yield ("run-ip", 0, 0, False, 0.002)  # --ip within the create's burst
        yield ("run", step, 0, False, pause)
        yield ("service", step, 0, False, 0.3)
        yield ("stop", step, 0, False, pause)
        yield ("service-rm", 0, 0, False, 0.3)
        if step % 3 == 0:
            yield ("rm", step, 0, False, 0.3)
        yield ("stop", 0, 0, False, 0.3)


def _long() -> Iterator[Exchange]:
    """The long recording's calls as the model makes them (the same each time)."""
    calls = Calls(network_driver=False)
    commands = _long_commands()
    while calls.seq < LONG:
        play(calls, next(commands))
        yield from calls.exchanges
        calls.exchanges = []


def _growth(sizes: list[dict[str, int]]) -> dict[str, tuple[int, int]]:
    """Per structure: the largest size in the first tenth of the run, and in all of it."""
    early = sizes[:len(sizes) // 10]
    return {name: (max(s[name] for s in early), max(s[name] for s in sizes))
            for name in sizes[0]}


def test_a_long_recording_streams_with_bounded_carried_state() -> None:
    survey = infer.LookaheadSurvey()
    lookahead, seen, by_value = survey.lookahead, [], 0
    for exchange in _long():
        survey.add(exchange)
        seen.append({"waiting": sum(map(len, lookahead.waiting.values())),
                     "open": len(lookahead.open), "run": len(lookahead.run),
                     "gateways": len(lookahead.gateways)})
        request = exchange.request.value
        by_value += isinstance(request, dict) and bool(request.get("Address"))
    alone = survey.released_alone(())
    growth = _growth(seen)
    assert all(early == late for early, late in growth.values()), growth
    assert growth["gateways"][1] <= 2 * POOL_SPACE  # a pool and its sub-pool per subnet
    assert 0 < len(alone) <= by_value  # the answers: at most one per address asked by value

    stream = infer.SectionStream((), window=1024, released_alone=alone)
    carried, calls = [], 0
    for section in stream.sections(_long()):
        calls += len(section.exchanges)
        tracker = stream.tracker
        carried.append({"pending": len(stream.pending), "held": tracker.held,
                        "pools": len(tracker.reserved) + len(tracker.serial_pools)})
    assert calls == len(seen) >= LONG  # every call, each once
    growth = _growth(carried)
    assert growth["held"][0] == growth["held"][1] and growth["pools"][0] == growth["pools"][1]
    assert growth["pending"][1] <= 1024 + 1  # the window and the call that shows it is full
    assert growth["pools"][1] <= 2 * POOL_SPACE  # the pools held at once, not all ever held


def test_show_and_export_say_where_a_burst_longer_than_the_window_was_cut(
        tmp_path: Path) -> None:
    from ipamx_spy.export.stream import StreamedTrace, open_trace

    calls = Calls(network_driver=False)
    commands = _long_commands()
    while calls.seq <= infer.SECTION_WINDOW + 100:
        word, pick, aux, flag, _pause = next(commands)
        play(calls, (word, pick, aux, flag, 0.002))  # one burst: no pause anywhere
    path = tmp_path / "burst.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in [
        rec.make_header(name="burst"), *(e.to_json() for e in calls.exchanges)]))
    trace = open_trace([path], validate=False)
    assert isinstance(trace, StreamedTrace)
    sections = list(trace.sections)
    window = infer.SECTION_WINDOW
    note = infer.burst_cut_note(calls.exchanges[window - 1], calls.exchanges[window], window)
    assert [s.seqs[-1] for s in sections if note in s.detail][0] == window
    assert [s.seqs[0] for s in sections if note in s.detail][-1] == window + 1
    assert [seq for s in sections for seq in s.seqs] == [e.seq for e in calls.exchanges]


def test_a_release_whose_role_the_session_knows_reads_as_the_networks() -> None:
    """Inference reads a release as a network's own (``relgw``) when the session's
    ``AddressRoles`` (``Exchange.address_role``, filled by every reader) says it is the gateway
    or an --aux-address, also where its own tracker did not see the address handed out."""
    from ipamx_spy.dockerd import AddressRole

    release = next(e for e in rec.load(ROOT / "recordings" / "talk.jsonl").exchanges
                   if e.seq == 8)
    assert [w for w, _ in infer.classify([release])] == ["rel"]
    for role in (AddressRole.GATEWAY, AddressRole.AUX):
        known = dataclasses.replace(release, address_role=role)
        assert [w for w, _ in infer.classify([known])] == ["relgw"]
    mine = dataclasses.replace(release, address_role=AddressRole.ENDPOINT)
    assert [w for w, _ in infer.classify([mine])] == ["rel"]


def _pools_never_given_back(count: int) -> list[Exchange]:
    """``count`` networks, each a fresh pool with its gateway and an --aux-address, none ever
    removed (a recording cut before ``docker network rm``), 2 s apart."""
    calls = Calls(network_driver=False)
    for n in range(count):
        pool, cidr = f"p{n}", f"10.{n // 250}.{n % 250}.0/24"
        calls.call("IpamDriver.RequestPool", {"AddressSpace": "LocalDefault", "Pool": cidr,
                                              "SubPool": "", "Options": {}, "V6": False},
                   {"PoolID": pool, "Pool": cidr, "Data": {}}, gap=2.0)
        gateway = cidr.replace("0/24", "1")
        calls.call("IpamDriver.RequestAddress", {"PoolID": pool, "Address": "", "Options": GW},
                   {"Address": f"{gateway}/24", "Data": {}})
        aux = cidr.replace("0/24", "9")
        calls.call("IpamDriver.RequestAddress", {"PoolID": pool, "Address": aux, "Options": {}},
                   {"Address": f"{aux}/24", "Data": {}})
    return calls.exchanges


def test_the_streamed_tracker_holds_a_bounded_number_of_pools_never_given_back() -> None:
    exchanges = _pools_never_given_back(200)
    stream = infer.SectionStream((), window=16, pool_limit=8)
    held = []
    streamed = []
    for section in stream.sections(exchanges):
        streamed.append(section)
        held.append((len(stream.tracker.reserved), stream.tracker.held))
    assert max(pools for pools, _ in held) <= 8 and max(n for _, n in held) <= 8 * 2
    assert [_shape(s) for s in streamed] == [_shape(s) for s in infer.sections(
        Recording(header={}, records=(), exchanges=tuple(exchanges)))]
    unlimited = infer.SectionStream((), window=16, pool_limit=10_000)
    list(unlimited.sections(exchanges))
    assert len(unlimited.tracker.reserved) == 200  # what the limit keeps from growing
