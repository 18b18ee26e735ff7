"""The shared allocator on a real etcd cluster (Debian's etcd-server, members on loopback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from typing import Any

import pytest
from etcd_cluster import EtcdCluster

from ipamx_spy.app import BuiltinPlugin
from ipamx_spy.builtin import BuiltinConfig, make_plugin

POOL = "10.20.0.0/22"


def call(plugin: BuiltinPlugin, endpoint: str, body: dict[str, Any]) -> Any:
    reply = plugin.handle(f"IpamDriver.{endpoint}", json.dumps(body).encode())
    assert reply.status == 200, reply.body
    return json.loads(reply.body)


def host(store: str, name: str) -> BuiltinPlugin:
    return make_plugin(BuiltinConfig(store=store, host_id=name))


@pytest.fixture
def cluster3() -> Any:
    with EtcdCluster(3) as cluster:
        yield cluster


def test_three_hosts_allocate_while_a_member_dies(cluster3: EtcdCluster) -> None:
    hosts = [host(cluster3.store_url, f"h{i}") for i in range(3)]
    pool_ids = {call(h, "RequestPool", {"AddressSpace": "GlobalDefault", "Pool": POOL})["PoolID"]
                for h in hosts}
    assert len(pool_ids) == 1  # every host attached to the same pool
    pool_id = pool_ids.pop()
    acked: dict[str, list[str]] = {f"h{i}": [] for i in range(3)}
    errors: list[str] = []
    halfway = threading.Event()
    per_host = 60

    def work(name: str, plugin: BuiltinPlugin) -> None:
        for _ in range(per_host):
            answer = call(plugin, "RequestAddress", {"PoolID": pool_id})
            if answer.get("Error"):
                errors.append(answer["Error"])
                continue
            acked[name].append(answer["Address"])
            if sum(len(v) for v in acked.values()) >= per_host:
                halfway.set()

    threads = [threading.Thread(target=work, args=(f"h{i}", h)) for i, h in enumerate(hosts)]
    for t in threads:
        t.start()
    assert halfway.wait(120)
    cluster3.kill(cluster3.members[0])  # 2 of 3 keep the quorum
    for t in threads:
        t.join(300)
    assert not any(t.is_alive() for t in threads)
    everything = [a for got in acked.values() for a in got]
    assert errors == []
    assert len(everything) == 3 * per_host
    assert len(set(everything)) == len(everything), "an address was handed out twice"

    for h in hosts:
        h.close()
    restarted = host(cluster3.store_url, "h0")  # h0 restarts: it must see every lease
    leases = call(restarted, "Leases", {})["Leases"]
    seen = {lease["Address"]: lease["Host"] for lease in leases}
    for name, got in acked.items():
        for address in got:
            assert seen.get(address) == name, f"{address} of {name} forgotten"
    after = call(restarted, "RequestAddress", {"PoolID": pool_id})["Address"]
    assert after not in seen
    restarted.close()


def test_release_pool_keeps_the_other_hosts_hold(cluster3: EtcdCluster) -> None:
    a, b = host(cluster3.store_url, "a"), host(cluster3.store_url, "b")
    try:
        pid = call(a, "RequestPool", {"AddressSpace": "GlobalDefault", "Pool": POOL})["PoolID"]
        assert call(b, "RequestPool", {"AddressSpace": "GlobalDefault",
                                       "Pool": POOL})["PoolID"] == pid
        assert call(a, "ReleasePool", {"PoolID": pid}) == {}
        assert call(b, "RequestAddress", {"PoolID": pid})["Address"] == "10.20.0.1/22"
        [network] = [n for n in call(a, "Networks", {})["Networks"] if n["PoolID"] == pid]
        assert network["Hosts"] == ["b"]
    finally:
        a.close()
        b.close()


def test_etcd_down_gives_a_clear_err_and_no_hang() -> None:
    with EtcdCluster(1) as cluster:
        plugin = host(cluster.store_url, "solo")
        pid = call(plugin, "RequestPool", {"AddressSpace": "GlobalDefault",
                                           "Pool": POOL})["PoolID"]
        cluster.kill(cluster.members[0])
        answers: list[Any] = []
        worker = threading.Thread(
            target=lambda: answers.append(call(plugin, "RequestAddress", {"PoolID": pid})))
        worker.start()
        worker.join(60)
        assert not worker.is_alive(), "RequestAddress hung with etcd down"
        [answer] = answers
        assert "etcd at etcd://127.0.0.1:" in answer["Error"]
        assert "unreachable" in answer["Error"] and "nothing was changed" in answer["Error"]
        plugin.close()


def test_status_store_shows_leases_by_host(cluster3: EtcdCluster) -> None:
    a, b = host(cluster3.store_url, "alpha"), host(cluster3.store_url, "beta")
    try:
        pid = call(a, "RequestPool", {"AddressSpace": "GlobalDefault", "Pool": POOL})["PoolID"]
        call(b, "RequestPool", {"AddressSpace": "GlobalDefault", "Pool": POOL})
        first = call(a, "RequestAddress", {"PoolID": pid})["Address"]
        second = call(b, "RequestAddress", {"PoolID": pid})["Address"]
        local = call(b, "RequestPool", {"AddressSpace": "LocalDefault", "Pool": ""})["PoolID"]
        call(b, "RequestAddress", {"PoolID": local})
    finally:
        a.close()
        b.close()
    shown = subprocess.run(
        [sys.executable, "-m", "ipamx_spy", "status", "--store", cluster3.store_url],
        capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert any("alpha" in line and first in line for line in lines)
    assert any("beta" in line and second in line for line in lines)
    assert any("alpha, beta" in line and POOL in line for line in lines)
    assert any("beta" in line and "LocalDefault/172.17.0.0/16" in line for line in lines)

    down = subprocess.run(
        [sys.executable, "-m", "ipamx_spy", "status", "--store", "etcd://127.0.0.1:1"],
        capture_output=True, text=True, timeout=120)
    assert down.returncode == 2 and "unreachable" in down.stderr


def test_serve_refuses_to_start_without_its_store(sockdir: Any) -> None:
    started = subprocess.run(
        [sys.executable, "-m", "ipamx_spy", "serve", "--listen", str(sockdir / "x.sock"),
         "--store", "etcd://127.0.0.1:1", "--host-id", "h1"],
        capture_output=True, text=True, timeout=120)
    assert started.returncode == 2
    assert "cannot start" in started.stderr and "etcd://127.0.0.1:1" in started.stderr
