"""The committed swarm captures (docs/swarm/): the validator, the swarm rules and replay.

The captures are three real dockerd 20.10.24 nodes of a swarm with ipamx-spy as the managed
plugin (tests/test_swarm_e2e.py makes such recordings). Here they are read without any daemon:
they pass the validator per host and merged; copies with a swarm-specific mistake written in
get IPX503/IPX504; and each replays green against the built-in plugin and against a mock of
itself on a socket.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from spyharness import SpyThread

from ipamx_spy import recording
from ipamx_spy.aio.relay import RelayOptions
from ipamx_spy.mock import MockPlugin
from ipamx_spy.multihost.merge import merge
from ipamx_spy.multihost.timeline import merged_findings
from ipamx_spy.validate import check_recording

SWARM = Path(__file__).resolve().parent.parent / "docs" / "swarm"
NODES = ("node1", "node2", "node3")
Edit = Callable[[dict[str, Any]], None]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ipamx_spy", *args], capture_output=True,
                          text=True, timeout=180, env={**os.environ, "COLUMNS": "200"})


def captures(tmp_path: Path, node: str = "", edit: Edit | None = None) -> list[Path]:
    """Copies of the three captures, ``edit`` applied to every exchange record of ``node``."""
    paths = []
    for name in NODES:
        records = [json.loads(line) for line in (SWARM / f"{name}.jsonl").read_text().splitlines()]
        for record in records:
            if name == node and edit is not None and record.get("type") == "exchange":
                edit(record)
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        paths.append(path)
    return paths


def body(message: dict[str, Any]) -> dict[str, Any]:
    value = message["body"].get("json")
    return value if isinstance(value, dict) else {}


def refuse(record: dict[str, Any], text: str) -> None:
    record["response"].update(status=500, reason="Internal Server Error",
                              headers=[["Content-Type", "application/json"]],
                              body={"encoding": "json", "json": {"Err": text}})


def local(record: dict[str, Any], endpoint: str) -> bool:
    request = body(record["request"])
    return record["endpoint"] == f"IpamDriver.{endpoint}" and (
        request.get("AddressSpace") == "LocalDefault"
        or str(request.get("PoolID", "")).startswith("LocalDefault/"))


def findings(paths: list[Path]) -> list[tuple[str, str]]:
    merged = merge([recording.load(p) for p in paths])
    return [(f.code, f"{merged.lanes.get(f.seq, '')} {f.message}")
            for f in merged_findings(merged)]


def test_the_captures_pass_the_validator_per_host_and_merged() -> None:
    paths = [SWARM / f"{name}.jsonl" for name in NODES]
    for path in paths:
        assert check_recording(recording.load(path)) == [], path
    assert findings(paths) == []
    checked = run("check", "--merge", *map(str, paths))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "merged timeline of node1, node2, node3: 47 exchanges, no findings" in checked.stdout


def test_a_node_whose_local_pool_is_refused_is_ipx503(tmp_path: Path) -> None:
    def edit(record: dict[str, Any]) -> None:
        if local(record, "RequestPool"):
            refuse(record, "Pool overlaps with other one on this address space")

    found = findings(captures(tmp_path, "node2", edit))
    assert [code for code, _ in found] == ["IPX503"], found
    [(_, message)] = found
    assert message.startswith("node2 node2 could not re-reserve pool 10.4.4.0/24 in its local")
    assert "(node1 #13)" in message and "Pool overlaps" in message
    checked = run("check", "--merge", *map(str, captures(tmp_path, "node2", edit)))
    assert checked.returncode == 1 and "IPX503" in checked.stdout


def test_a_node_whose_exact_task_address_is_refused_is_ipx503(tmp_path: Path) -> None:
    def edit(record: dict[str, Any]) -> None:
        if local(record, "RequestAddress") and body(record["request"]).get(
                "Address") == "10.4.4.3":
            refuse(record, "Address already in use")

    found = findings(captures(tmp_path, "node3", edit))
    assert [code for code, _ in found] == ["IPX503"], found
    assert "node3 could not re-reserve 10.4.4.3 in its local pool LocalDefault/10.4.4.0/24" \
        in found[0][1] and "(node1 #16)" in found[0][1]


def test_a_node_re_reserving_an_address_the_manager_did_not_choose_is_ipx504(
        tmp_path: Path) -> None:
    def edit(record: dict[str, Any]) -> None:
        if local(record, "RequestAddress") and body(record["request"]).get(
                "Address") == "10.4.4.6":
            body(record["request"])["Address"] = "10.4.4.60"
            body(record["response"])["Address"] = "10.4.4.60/24"
        elif record["endpoint"] == "IpamDriver.ReleaseAddress" and body(
                record["request"]).get("Address") == "10.4.4.6":
            body(record["request"])["Address"] = "10.4.4.60"

    found = findings(captures(tmp_path, "node3", edit))
    assert [code for code, _ in found] == ["IPX504"], found
    assert "node3 re-reserved 10.4.4.60 in its local pool" in found[0][1]
    assert "10.4.4.0/24 (node1 #13)" in found[0][1]


def test_a_manager_refusing_its_own_global_pool_is_no_swarm_finding(tmp_path: Path) -> None:
    def edit(record: dict[str, Any]) -> None:
        if record["endpoint"] == "IpamDriver.RequestPool" and not local(record, "RequestPool"):
            refuse(record, "no more pools")

    assert [c for c, _ in findings(captures(tmp_path, "node1", edit))
            if c in {"IPX503", "IPX504"}] == []


def test_the_captures_replay_green_against_the_builtin_plugin() -> None:
    # a managed plugin is never activated: replay serves the network driver because the
    # recorded calls went to NetworkDriver.* (the captured plugin declares both)
    for compat in ("27", "20.10"):
        replayed = run("replay", "-q", "--compat", compat, str(SWARM))
        assert replayed.returncode == 0, replayed.stdout + replayed.stderr
        for name, count in (("node1", 25), ("node2", 11), ("node3", 11)):
            assert f"{name}.jsonl: {count} passed, 0 failed" in replayed.stdout + \
                replayed.stderr


@pytest.mark.parametrize("name", NODES)
def test_each_capture_replays_green_against_a_mock_of_itself(sockdir: Path, name: str) -> None:
    path = SWARM / f"{name}.jsonl"
    mock = MockPlugin(exchanges=recording.load(path).exchanges)
    listen = sockdir / "mock.sock"
    with SpyThread(listen, RelayOptions(upstream=None, app=mock)):
        replayed = run("replay", "-q", "--target", str(listen), str(path))
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert mock.misses == []


def test_sections_name_the_swarm_flows() -> None:
    """Inference over the manager's capture: the managed plugin's registrations (no
    Plugin.Activate), the swarm network's pool and gateway, the allocator's serial addresses
    for ``service create``, and its releases."""
    from ipamx_spy.infer import sections

    found = [(s.title, len(s.exchanges)) for s in sections(recording.load(SWARM / "node1.jsonl"))]
    registered = "managed plugin registered (docker plugin enable, or docker swarm init)"
    assert found[:3] == [(registered, 3), (registered, 3), ("docker network create", 2)]
    assert ("docker service create: the swarm allocator's virtual IP, task and load-balancer "
            "addresses", 7) in found
    freed = [n for title, n in found if title.startswith("the swarm allocator frees")]
    assert sum(freed) == 4  # the VIP at service rm, the three load balancers at network rm
    worker = [s.title for s in sections(recording.load(SWARM / "node2.jsonl"))]
    assert worker[0] == registered and "docker service create" not in " ".join(worker)
