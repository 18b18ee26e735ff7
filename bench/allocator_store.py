"""Allocations per second by store: the local file against etcd, from one and from three hosts.

Every figure is ``IpamDriver.RequestAddress`` through the built-in plugin's routes (field
checks, the allocator, the store), in one process, all measured in the same run:

* **file**: ``--state FILE`` (each answer journaled and fsync'd first): the baseline, 1.00;
* **etcd, 1 host**: ``--store etcd://`` on a 3-member etcd cluster on loopback (Debian's
  ``etcd-server``), one host allocating from a global pool;
* **etcd, 3 hosts**: three allocators (three host ids, three threads) allocating from the
  same global pool at once: every compare-and-swap that loses to another host is retried, so
  this shows what contention costs. The figure is the sum over the three hosts.

Each case runs ``--rounds`` times interleaved; the table shows medians. Ratios only: the
machine is shared, absolute numbers are noise.

Usage: python bench/allocator_store.py [--calls 300] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from etcd_cluster import EtcdCluster  # noqa: E402

from ipamx_spy.app import BuiltinPlugin  # noqa: E402
from ipamx_spy.builtin import BuiltinConfig, make_plugin  # noqa: E402


def call(plugin: BuiltinPlugin, endpoint: str, body: dict[str, object]) -> dict[str, object]:
    reply = plugin.handle(f"IpamDriver.{endpoint}", json.dumps(body).encode())
    answer: dict[str, object] = json.loads(reply.body)
    if reply.status != 200 or answer.get("Error"):
        raise RuntimeError(f"{endpoint}: {reply.body!r}")
    return answer


def fill(plugins: list[BuiltinPlugin], pool: str, calls: int) -> float:
    """Allocate ``calls`` addresses from each plugin at once; returns allocations/s in total."""
    pool_id = ""
    for plugin in plugins:
        pool_id = str(call(plugin, "RequestPool", {"AddressSpace": "GlobalDefault",
                                                   "Pool": pool})["PoolID"])
    got: list[str] = []

    def work(plugin: BuiltinPlugin) -> None:
        for _ in range(calls):
            got.append(str(call(plugin, "RequestAddress", {"PoolID": pool_id})["Address"]))

    threads = [threading.Thread(target=work, args=(p,)) for p in plugins]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if len(set(got)) != calls * len(plugins):
        raise RuntimeError("duplicate or missing addresses")
    return len(got) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[float]] = {"file": [], "etcd, 1 host": [], "etcd, 3 hosts": []}
    with EtcdCluster(3) as cluster, tempfile.TemporaryDirectory() as tmp:
        cases: dict[str, Callable[[int], list[BuiltinPlugin]]] = {
            "file": lambda r: [make_plugin(BuiltinConfig(state=Path(tmp) / f"s{r}.json"))],
            "etcd, 1 host": lambda r: [make_plugin(BuiltinConfig(
                store=cluster.store_url + f"/bench1-{r}", host_id="h0"))],
            "etcd, 3 hosts": lambda r: [make_plugin(BuiltinConfig(
                store=cluster.store_url + f"/bench3-{r}", host_id=f"h{i}")) for i in range(3)],
        }
        for r in range(args.rounds):
            for name, make in cases.items():
                plugins = make(r)
                try:
                    results[name].append(fill(plugins, "10.30.0.0/16", args.calls))
                finally:
                    for p in plugins:
                        p.close()
    base = statistics.median(results["file"])
    print(f"RequestAddress, {args.calls} calls per host, median of {args.rounds} rounds\n")
    print("| store | allocations/s | ratio to file |")
    print("|---|---:|---:|")
    for name, values in results.items():
        median = statistics.median(values)
        print(f"| {name} | {median:,.0f} | {median / base:.2f} |")


if __name__ == "__main__":
    main()
