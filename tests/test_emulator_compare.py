"""The emulator's requests against real dockerd 20.10 captures, byte for byte.

Every recording that has a scenario of the same stem (``scenarios/<stem>.scenario``) is
compared: ``recordings/*.jsonl`` (captures made through the proxy), ``scenarios/captures/``
(raw captures of dockerd 20.10.24 made with a probe plugin), ``tests/broken/`` (one real
capture with planted plugin errors) and ``tests/captures/`` (``scripts/record_bursts.py``). The
emulator gets the recorded answers and takes the recorded NetworkID, EndpointID, SandboxKey and
generated MAC values in order of first appearance (``ids.RecordedIds``); nothing else is
substituted, and requests are compared whole: request line, headers, body."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from ipamx_spy.emulator import scenario
from ipamx_spy.emulator.compare import compare, prior_plugins
from ipamx_spy.emulator.ids import RecordedIds
from ipamx_spy.recording import Message, Recording, encode_body, load

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"
SOURCES = (ROOT / "recordings", SCENARIOS / "captures", ROOT / "tests" / "broken",
           ROOT / "tests" / "captures")
PAIRS = [(path, SCENARIOS / f"{path.stem}.scenario")
         for source in SOURCES for path in sorted(source.rglob("*.jsonl"))
         if (SCENARIOS / f"{path.stem}.scenario").exists()]


def test_the_talk_and_at_least_four_other_scenarios_are_compared() -> None:
    stems = {path.stem for path, _ in PAIRS}
    assert "talk" in stems and len(stems) >= 5


@pytest.mark.parametrize(("recording", "scenario_file"), PAIRS,
                         ids=[f"{p.parent.name}/{p.stem}" for p, _ in PAIRS])
def test_emulator_sends_what_dockerd_sent(recording: Path, scenario_file: Path) -> None:
    rec = load(recording)
    result = compare(scenario.load(scenario_file), rec)
    assert result.equal, result.report()
    assert result.recorded == len(rec.exchanges)


def _with_request(rec: Recording, index: int, old: bytes, new: bytes) -> Recording:
    exchanges = list(rec.exchanges)
    target = exchanges[index]
    raw = target.request.raw_body.replace(old, new)
    request = dataclasses.replace(target.request, body=encode_body(raw))
    exchanges[index] = dataclasses.replace(target, request=request)
    return dataclasses.replace(rec, exchanges=tuple(exchanges))


def test_a_single_changed_byte_is_reported_with_a_diff() -> None:
    rec = load(SCENARIOS / "captures" / "talk.jsonl")
    changed = _with_request(rec, 6, b"10.4.4.21", b"10.4.4.22")
    result = compare(scenario.load(SCENARIOS / "talk.scenario"), changed)
    [mismatch] = result.mismatches
    assert mismatch.index == 7 and mismatch.recorded == "IpamDriver.RequestAddress"
    assert '-{"PoolID":"probe/10.4.4.0/24","Address":"10.4.4.22"' in mismatch.diff
    assert '+{"PoolID":"probe/10.4.4.0/24","Address":"10.4.4.21"' in mismatch.diff


def test_a_missing_request_is_reported() -> None:
    rec = load(SCENARIOS / "captures" / "talk.jsonl")
    steps = scenario.load(SCENARIOS / "talk.scenario")[:-1]  # without "docker network rm"
    result = compare(steps, rec)
    assert not result.equal
    assert [m.recorded for m in result.mismatches] == ["IpamDriver.ReleaseAddress",
                                                       "IpamDriver.ReleasePool"]


def test_recorded_ids_in_order_of_first_appearance() -> None:
    rec = load(SCENARIOS / "captures" / "dual-stack-mac.jsonl")
    ids = RecordedIds.from_exchanges(rec.exchanges)
    assert len(ids.queues["network"]) == 1 and len(ids.queues["endpoint"]) == 1
    assert ids.queues["sandbox"][0].startswith("/tmp/ipx5/d/exec/netns/")
    assert all(mac.startswith("02:42:") for mac in ids.queues["mac"])
    assert len(ids.queues["mac"]) == 2  # g1 and the foreground container on bn
    user = RecordedIds.from_exchanges(rec.exchanges, exclude_macs=[ids.queues["mac"][0].upper()])
    assert user.queues["mac"] == ids.queues["mac"][1:]
    first = ids.queues["mac"][0]
    assert ids.take("mac") == first  # the queue pops in order of first appearance
    assert ids.take("mac") == user.queues["mac"][0]


def test_recordings_that_start_after_activation_get_active_plugins() -> None:
    rec = load(SCENARIOS / "captures" / "ipam-options.jsonl")
    steps = scenario.load(SCENARIOS / "ipam-options.scenario")
    [plugin] = prior_plugins(steps, sorted(rec.exchanges, key=lambda e: e.seq))
    assert (plugin.name, plugin.local_space, plugin.requires_mac) == ("ipamx", "probeLocal", False)
    assert prior_plugins(steps, list(load(SCENARIOS / "captures" / "talk.jsonl").exchanges)) == []


def test_request_headers_are_dockerds() -> None:
    rec = load(SCENARIOS / "captures" / "talk.jsonl")
    first: Message = rec.exchanges[0].request
    assert first.raw() == (b"POST /Plugin.Activate HTTP/1.1\r\nHost: \r\n"
                           b"User-Agent: Go-http-client/1.1\r\nContent-Length: 0\r\n"
                           b"Accept: application/vnd.docker.plugins.v1.2+json\r\n\r\n")
