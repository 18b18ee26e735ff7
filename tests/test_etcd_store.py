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
from ipamx_spy.ipam.config import IpamConfig, Scope
from ipamx_spy.ipam.errors import ConfigError
from ipamx_spy.ipam.etcd import EtcdClient, EtcdLog, EtcdSpec
from ipamx_spy.ipam.shared import GLOBAL_LOG, SharedAllocator, host_log
from ipamx_spy.ipam.shared_service import SharedIpamService

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
        [service] = a.services  # a lost append is retried as long as one etcd call may take
        assert isinstance(service, SharedIpamService) and service.client is not None
        assert service.shared.replicas[Scope.GLOBAL].retry.deadline == service.client.deadline
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


def test_the_store_url_sets_how_long_a_call_is_retried() -> None:
    """``?deadline=SECONDS``: the client's retry deadline and the shared allocator's retry of a
    lost append both take it, the plugin allocates as before, and the error names the URL."""
    with EtcdCluster(1) as cluster:
        url = f"{cluster.store_url}?deadline=1.5"
        plugin = host(url, "solo")
        [service] = plugin.services
        assert isinstance(service, SharedIpamService) and service.client is not None
        assert service.client.deadline == 1.5
        assert service.shared.replicas[Scope.GLOBAL].retry.deadline == 1.5
        pid = call(plugin, "RequestPool", {"AddressSpace": "GlobalDefault",
                                           "Pool": POOL})["PoolID"]
        assert call(plugin, "RequestAddress", {"PoolID": pid})["Address"] == "10.20.0.1/22"
        cluster.kill(cluster.members[0])
        reply = plugin.handle("IpamDriver.RequestAddress", json.dumps({"PoolID": pid}).encode())
        error = json.loads(reply.body)["Error"]
        assert f"etcd at {url} is unreachable" in error and "nothing was changed" in error
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


def keys(client: EtcdClient, start: bytes, end: bytes) -> list[bytes]:
    async def read(c: Any) -> list[bytes]:
        return [kv.key for kv in await c.get_range(start, end)]

    return client.call(read)


def test_the_log_in_etcd_is_compacted_and_a_late_host_sees_every_lease() -> None:
    with EtcdCluster(1) as cluster:
        client = EtcdClient(EtcdSpec.parse(cluster.store_url))
        try:
            shared = SharedAllocator(IpamConfig(), host="early", compact_every=5, keep=2,
                                     global_log=EtcdLog(client, GLOBAL_LOG),
                                     local_log=EtcdLog(client, host_log("early")))
            shared.catch_up()
            pid = shared.request_pool("GlobalDefault", POOL)["PoolID"]
            got = [shared.request_address(pid) for _ in range(23)]
            log = EtcdLog(client, GLOBAL_LOG)
            entries = keys(client, log.entries, log.entries_end)
            assert len(entries) <= 5 + 2 and entries[-1] == log.key(24)
            assert keys(client, log.snapshots, log.snapshots_end) == [
                log.snapshots + b"%020d" % 20]
        finally:
            client.close()
        late = host(cluster.store_url, "late")  # replays from the snapshot
        try:
            seen = {lease["Address"]: lease["Host"] for lease in call(late, "Leases", {})[
                "Leases"]}
            assert seen == dict.fromkeys(got, "early")
            assert call(late, "RequestAddress", {"PoolID": pid})["Address"] not in got
        finally:
            late.close()


def test_etcds_speaks_tls_with_a_client_certificate() -> None:
    with EtcdCluster(1, tls=True) as cluster:
        assert cluster.certs is not None and cluster.store_url.startswith("etcds://")
        plugin = host(cluster.store_url, "secure")
        try:
            pid = call(plugin, "RequestPool", {"AddressSpace": "GlobalDefault",
                                               "Pool": POOL})["PoolID"]
            assert call(plugin, "RequestAddress", {"PoolID": pid})["Address"] == "10.20.0.1/22"
        finally:
            plugin.close()
        shown = subprocess.run(
            [sys.executable, "-m", "ipamx_spy", "status", "--store", cluster.store_url],
            capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})
        assert shown.returncode == 0 and "10.20.0.1" in shown.stdout, shown.stderr
        member = cluster.members[0].endpoint
        for store in (f"etcd://{member}",  # plain gRPC to a TLS member
                      f"etcds://{member}?ca={cluster.certs.ca}"):  # no client certificate
            refused = subprocess.run(
                [sys.executable, "-m", "ipamx_spy", "status", "--store", store],
                capture_output=True, text=True, timeout=120)
            assert refused.returncode == 2 and "unreachable" in refused.stderr, refused.stderr


@pytest.mark.parametrize(("text", "message"), [
    ("etcd://h:2379?ca=/x.pem", "use etcds://"),
    ("etcds://h:2379?cert=/c.pem", "needs both cert= and key="),
    ("etcds://h:2379?ca=/x.pem&ca=/y.pem", "each once"),
    ("etcds://h:2379?password=x", "is not one of"),
    ("https://h:2379", "etcds:// for TLS"),
    ("etcd://h:2379?deadline=0", "deadline='0' is not a number of seconds"),
    ("etcd://h:2379?deadline=soon", "deadline='soon' is not a number of seconds"),
    ("etcd://h:2379?deadline=nan", "deadline='nan' is not a number of seconds"),
    ("etcd://h:2379?deadline=601", "at most 600"),
    ("etcd://h:2379?deadline=1&deadline=2", "each once"),
])
def test_store_urls_with_tls_are_checked(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        EtcdSpec.parse(text)


def test_store_urls_with_tls_round_trip_and_name_an_unreadable_file(tmp_path: Any) -> None:
    text = "etcds://a:2379,b:2380/team?ca=/etc/ca.pem&cert=/etc/c.pem&key=/etc/k.pem"
    spec = EtcdSpec.parse(text)
    assert spec.tls and spec.prefix == "/team" and spec.ca == "/etc/ca.pem"
    assert str(spec) == text and EtcdSpec.parse(str(spec)) == spec
    assert EtcdSpec.parse("etcd://a:2379").credentials() is None
    timed = "etcds://a:2379/team?ca=/etc/ca.pem&deadline=12.5"
    assert EtcdSpec.parse(timed).deadline == 12.5 and str(EtcdSpec.parse(timed)) == timed
    assert EtcdSpec.parse("etcd://a:2379?deadline=5").deadline == 5.0
    assert str(EtcdSpec.parse("etcd://a:2379?deadline=5")) == "etcd://a:2379"  # the default
    missing = tmp_path / "missing.pem"
    with pytest.raises(ConfigError, match=f"cannot read {missing}"):
        EtcdSpec.parse(f"etcds://a:2379?ca={missing}").credentials()
