"""The replay loop against in-process apps and plugins on sockets, correct and broken."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from brokenplugin import (
    BREAKAGES,
    dynamic_calls,
    make_app,
    mini_plugin,
    record,
    serve,
    talk_calls,
    write_recording,
)

from ipamx_spy.address import Address
from ipamx_spy.builtin import BuiltinConfig, make_plugin
from ipamx_spy.recording import Recording, load, make_header
from ipamx_spy.replay.compare import Rules
from ipamx_spy.replay.engine import (
    FAIL,
    PASS,
    SKIP,
    ReplayResult,
    load_recording,
    replay_files,
    replay_recording,
)
from ipamx_spy.replay.target import BuiltinState, ReplayUnusable, TargetSpec, parse_target

GOLDEN = Path(__file__).parent / "golden" / "synthetic.jsonl"


def app_spec(factory: Callable[[], object], label: str = "fake") -> TargetSpec:
    return TargetSpec(label=label, app_factory=factory)  # type: ignore[arg-type]


def as_recording(exchanges: list) -> Recording:  # type: ignore[type-arg]
    return Recording(header=make_header(), records=(), exchanges=tuple(exchanges))


def outcomes(result: ReplayResult) -> list[str]:
    return [v.outcome for v in result.verdicts]


def failure_text(result: ReplayResult) -> str:
    return "\n".join(p.message for v in result.failures for p in v.problems)


def test_golden_talk_conforms_and_the_unanswered_exchange_is_skipped() -> None:
    result = replay_recording(load(GOLDEN), app_spec(make_app), Rules())
    assert result.ok, failure_text(result)
    assert outcomes(result).count(SKIP) == 1
    (skipped,) = [v for v in result.verdicts if v.outcome == SKIP]
    assert skipped.seq == 9 and "closed the connection" in skipped.skip_reason


def test_other_address_space_names_pass_thanks_to_bindings() -> None:
    result = replay_recording(load(GOLDEN), app_spec(lambda: make_app(local_space="blue")),
                              Rules())
    assert result.ok, failure_text(result)
    assert result.bindings["LocalDefault"] == "blue"
    release_pool = result.verdicts[-1]
    assert release_pool.sent == {"PoolID": "blue/10.4.4.0/24"} and release_pool.rewritten


def test_a_recording_made_with_an_empty_address_space_replays_on_the_target_s_default(
        tmp_path: Path) -> None:
    """Issue #12: a plugin whose default local space is "" makes dockerd send
    ``AddressSpace: ""``; replayed against a plugin with a named default, every request is
    sent in that space and every exchange passes (before: one failure cascading into all)."""
    text = GOLDEN.read_text().replace('"LocalDefault"', '""').replace('"LocalDefault/', '"/')
    (tmp_path / "empty-space.jsonl").write_text(text)
    recording = load(tmp_path / "empty-space.jsonl")
    assert recording.exchanges[3].request.value["AddressSpace"] == ""
    result = replay_recording(recording, app_spec(make_app), Rules())
    assert result.ok, failure_text(result)
    assert result.verdicts[3].sent["AddressSpace"] == "LocalDefault"
    assert result.bindings["/10.4.4.0/24"] == "LocalDefault/10.4.4.0/24"


def test_strict_reports_the_renamed_address_space() -> None:
    result = replay_recording(load(GOLDEN), app_spec(lambda: make_app(local_space="blue")),
                              Rules(strict=True))
    assert [v.seq for v in result.failures] == [3, 10]
    assert 'LocalDefaultAddressSpace: the recording has "LocalDefault", the plugin answered ' \
           '"blue"' in failure_text(result)


def test_reference_allocator_recording_replays_against_renamed_reference() -> None:
    recorded = record(make_plugin(BuiltinConfig()), talk_calls())
    renamed = BuiltinConfig(local_space="ipamx-local", global_space="ipamx-global")
    result = replay_recording(as_recording(recorded),
                              app_spec(lambda: make_plugin(renamed)), Rules())
    assert result.ok, failure_text(result)
    assert result.bindings["LocalDefault/10.4.4.0/24"] == "ipamx-local/10.4.4.0/24"


def test_values_the_allocator_picked_flow_into_later_requests() -> None:
    busy = mini_plugin()
    busy.handle("IpamDriver.RequestPool", json.dumps(
        {"AddressSpace": "LocalDefault", "Pool": "172.18.0.0/16", "SubPool": "",
         "Options": {}, "V6": False}).encode())
    recorded = record(busy, dynamic_calls())  # the recorded run got 172.19.0.0/16
    assert recorded[1].response is not None
    assert recorded[1].response.value["Pool"] == "172.19.0.0/16"
    result = replay_recording(as_recording(recorded), app_spec(make_app), Rules())
    assert result.ok, failure_text(result)
    release = result.verdicts[4]
    assert release.sent == {"PoolID": "LocalDefault/172.18.0.0/16", "Address": "172.18.0.2"}


def test_each_recorded_connection_gets_its_own_connection(sockdir: Path) -> None:
    recording = as_recording(record(mini_plugin(), talk_calls()))
    with serve(sockdir / "p.sock") as plugin:
        spec = parse_target(str(sockdir / "p.sock"), timeout=5)
        result = replay_recording(recording, spec, Rules())
    assert result.ok, failure_text(result)
    assert plugin.connections == 1 + 2  # the reachability probe, then c1 and c2


def test_a_correct_plugin_on_a_socket_passes(sockdir: Path) -> None:
    with serve(sockdir / "p.sock"):
        result = replay_recording(load(GOLDEN), parse_target(f"unix://{sockdir}/p.sock"),
                                  Rules())
    assert result.ok, failure_text(result)


@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_each_breakage_fails_with_a_message_naming_it(sockdir: Path, breakage: str) -> None:
    broken = BREAKAGES[breakage]
    with serve(sockdir / "p.sock", breakage):
        result = replay_recording(load(GOLDEN), parse_target(str(sockdir / "p.sock"),
                                                             timeout=0.3), Rules())
    assert not result.ok
    first = result.failures[0]
    assert first.endpoint == broken.endpoint  # later ones may fail in consequence
    assert broken.says in "\n".join(p.message for p in first.problems)


@pytest.mark.parametrize("breakage", sorted(k for k, b in BREAKAGES.items() if b.twist))
def test_app_level_breakages_fail_in_process_too(breakage: str) -> None:
    result = replay_recording(load(GOLDEN), app_spec(lambda: make_app(breakage)), Rules())
    assert BREAKAGES[breakage].says in failure_text(result)


def test_dockerd_restart_restarts_the_in_process_plugin() -> None:
    life = talk_calls()[:5]  # activate, create the network (pool and gateway)
    recorded = record(mini_plugin(), life)
    again = record(mini_plugin(), life)  # a fresh plugin after the restart answers the same
    for number, exchange in enumerate(again, len(recorded) + 1):
        recorded.append(type(exchange)(**{**exchange.__dict__, "seq": number, "conn": 2}))
    result = replay_recording(as_recording(recorded), app_spec(make_app), Rules())
    assert result.ok, failure_text(result)
    assert "dockerd restarted here" in result.verdicts[5].note


def test_a_crashing_app_is_a_failure_not_a_crash() -> None:
    class Crashing:
        def handle(self, endpoint: str, body: bytes) -> object:
            raise RuntimeError("bug")

    result = replay_recording(load(GOLDEN), app_spec(Crashing), Rules())
    assert "the in-process plugin raised RuntimeError('bug')" in failure_text(result)


def test_unusable_recordings_are_reported_and_the_others_still_run(tmp_path: Path) -> None:
    (tmp_path / "notes.jsonl").write_text('{"a": 1}\n')
    empty = write_recording(tmp_path / "empty.jsonl", [])
    paths = [tmp_path / "missing.jsonl", tmp_path / "notes.jsonl", empty, GOLDEN]
    results = list(replay_files(paths, app_spec(make_app), Rules()))
    assert [r.unusable is not None for r in results] == [True, True, True, False]
    assert "no such file" in str(results[0].unusable)
    assert "not an ipamx-spy recording" in str(results[1].unusable)
    assert "no exchanges to replay" in str(results[2].unusable)
    with pytest.raises(ReplayUnusable):
        load_recording(tmp_path / "notes.jsonl")


def test_a_dead_target_is_unusable(sockdir: Path) -> None:
    spec = parse_target(str(sockdir / "nobody.sock"))
    with pytest.raises(ReplayUnusable, match="nobody.sock"):
        list(replay_files([GOLDEN], spec, Rules()))


@pytest.mark.parametrize(("text", "says"), [
    ("tcp://nowhere", "expected tcp://HOST:PORT"),
    ("builtin:color=blue", "'color=blue' is not one of"),
    ("builtin:state=disk", "target state 'disk'"),
    ("no-such-plugin-name-xyz", "could not find plugin"),
])
def test_bad_targets_are_unusable(text: str, says: str) -> None:
    with pytest.raises(ReplayUnusable, match=says):
        parse_target(text)


def test_builtin_target_settings() -> None:
    spec = parse_target("builtin:compat=20.10,local-space=x,state=temp,network-driver=no")
    assert spec.builtin is not None and spec.state is BuiltinState.TEMP
    assert (spec.builtin.compat, spec.builtin.local_space) == ("20.10", "x")
    assert not spec.builtin.network_driver
    assert parse_target("/run/x.sock").address == Address(kind="unix", path="/run/x.sock",
                                                          source="/run/x.sock")


def test_builtin_state_follows_the_recorded_capabilities() -> None:
    recorded = record(make_plugin(BuiltinConfig()), talk_calls())  # in memory: replay: true
    target = parse_target("builtin").open(as_recording(recorded))
    try:
        assert "state in memory" in target.label
    finally:
        target.close()


def test_passes_and_failures_are_counted() -> None:
    result = replay_recording(load(GOLDEN), app_spec(lambda: make_app("wrong-address")),
                              Rules())
    assert (result.count(PASS), result.count(FAIL), result.count(SKIP)) == (11, 1, 1)


_ROOT = Path(__file__).parent.parent
# The corpus of each daemon, and the scenario captures of 26.1 and 28.5 (made through the proxy
# in front of the reference plugin; the 20.10 ones were made with a probe plugin).
CORPUS = sorted(_ROOT.glob("recordings/**/*.jsonl")) + sorted(
    _ROOT.glob("scenarios/captures/dockerd-*/*.jsonl"))


@pytest.mark.parametrize("path", CORPUS, ids=[f"{p.parent.name}/{p.stem}" for p in CORPUS])
def test_the_corpus_conforms_to_the_reference_plugin(path: Path) -> None:
    """Each against the reference plugin imitating the daemon it was recorded with."""
    rec = load(path)
    # scripts/record_corpus.py --captures serves every scenario with --docker-compat 27
    compat = "27" if path.parent.parent.name == "captures" else (
        rec.header.get("docker_version") or "20.10")
    result = replay_recording(rec, parse_target(f"builtin:compat={compat}"), Rules())
    assert result.ok, failure_text(result)
    if "NetworkDriver" in json.dumps(result.verdicts[0].expected):
        assert "network driver with pretend links" in result.target
