"""Cost of the reference allocator, against naive baselines measured in the same run.

* creating a 10.0.0.0/8 and an IPv6 /64 pool: time and tracemalloc peak, against allocating
  the bitmap a naive allocator would need (2 MiB for the /8; 2 EiB for the /64, not attempted);
* filling a /16 one address at a time (lowest free each time): calls per second for the core
  ``Allocator``, for ``IpamService`` routes without a state file (``--state none``) and with
  one (every call journaled and fsync'd before it returns), against a naive allocator (a Python
  ``set`` of ints plus a lowest-free hint);
* memory retained after the fill (leases included, and the address set alone) and after creating
  an empty /8, against the naive ``set`` holding the same addresses.

Timings run without tracemalloc (it slows Python down several times); memory is measured in a
separate traced run. All figures come from one run on one machine: compare the ratios.

Usage: python bench/allocator.py [--prefix-len 16] [--state both|none|file] [--state-dir DIR]
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import gc
import shutil
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ipamx_spy.ipam import Allocator, IpamConfig, IpamService, open_state  # noqa: E402
from ipamx_spy.ipam.addrset import RunSet  # noqa: E402


class NaiveAllocator:
    """The baseline: used host offsets in a ``set``; lowest free by scanning from a start.

    With ``hint`` the scan starts after the last pick (the bookkeeping floor: right only while
    nothing is released); without, it starts at 1 every time (correct lowest-free, O(n) a call).
    """

    def __init__(self, size: int, *, hint: bool = True) -> None:
        self.size = size
        self.used = {0, size - 1}
        self.hint = 1
        self.use_hint = hint

    def request(self) -> int:
        offset = self.hint if self.use_hint else 1
        while offset in self.used:
            offset += 1
        if offset >= self.size:
            raise RuntimeError("full")
        self.used.add(offset)
        self.hint = offset + 1
        return offset


def timed(work: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    result = work()
    return time.perf_counter() - start, result


def traced(work: Callable[[], Any]) -> tuple[int, int, Any]:
    """(peak, retained) bytes allocated by ``work``; keeps its result alive while measuring."""
    gc.collect()
    tracemalloc.start()
    result = work()
    gc.collect()
    retained, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak, retained, result


def fill_core(hosts: int, bits: int) -> Allocator:
    allocator = Allocator()
    pool_id = allocator.request_pool("LocalDefault", f"10.0.0.0/{bits}").pool_id
    for _ in range(hosts):
        allocator.request_address(pool_id)
    return allocator


def fill_service(service: IpamService, hosts: int, bits: int) -> IpamService:
    routes = service.routes()
    pool_id = routes["IpamDriver.RequestPool"](
        {"AddressSpace": "LocalDefault", "Pool": f"10.0.0.0/{bits}"})["PoolID"]
    request = routes["IpamDriver.RequestAddress"]
    for _ in range(hosts):
        request({"PoolID": pool_id, "Address": "", "Options": None})
    return service


def fill_naive(hosts: int, bits: int) -> NaiveAllocator:
    naive = NaiveAllocator(1 << (32 - bits))
    for _ in range(hosts):
        naive.request()
    return naive


def tail_of_fill(hosts: int, bits: int, last: int) -> tuple[float, float]:
    """Seconds for the last ``last`` calls of a fill: (ipamx-spy core, naive scan from 1)."""
    allocator = Allocator()
    pool_id = allocator.request_pool("LocalDefault", f"10.0.0.0/{bits}").pool_id
    for _ in range(hosts - last):
        allocator.request_address(pool_id)
    ours, _ = timed(lambda: [allocator.request_address(pool_id) for _ in range(last)])
    naive = NaiveAllocator(1 << (32 - bits), hint=False)
    naive.used.update(range(1, hosts - last + 1))
    theirs, _ = timed(lambda: [naive.request() for _ in range(last)])
    return ours, theirs


def fill_runset(hosts: int) -> RunSet:
    runs = RunSet()
    for _ in range(hosts):
        free = runs.first_free(0, hosts)
        assert free is not None
        runs.add(free)
    return runs


def create_pool(pool: str, v6: bool) -> Allocator:
    allocator = Allocator()
    allocator.request_pool("LocalDefault", pool, v6=v6)
    return allocator


def human_bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError


def rate(calls: int, seconds: float) -> str:
    return f"{calls / seconds:,.0f} calls/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prefix-len", type=int, default=16, help="size of the pool to fill")
    parser.add_argument("--state", choices=["both", "none", "file"], default="both")
    parser.add_argument("--state-dir", default=None, help="where the state file goes (a disk, "
                        "not tmpfs, for honest fsync figures; default: the system temp dir)")
    args = parser.parse_args()
    bits = args.prefix_len
    hosts = (1 << (32 - bits)) - 2
    rows: list[tuple[str, str, str, str]] = []

    # creating huge pools
    t_pool, _ = timed(lambda: create_pool("10.0.0.0/8", False))
    t_bitmap, _ = timed(lambda: bytearray(1 << 21))
    peak_pool, _, _ = traced(lambda: create_pool("10.0.0.0/8", False))
    peak_bitmap, _, _ = traced(lambda: bytearray(1 << 21))
    rows.append(("create 10.0.0.0/8 pool: time", f"{t_pool * 1e6:.0f} µs",
                 f"{t_bitmap * 1e6:.0f} µs (2 MiB bitmap)", f"{t_pool / t_bitmap:.2f}×"))
    rows.append(("create 10.0.0.0/8 pool: peak memory", human_bytes(peak_pool),
                 human_bytes(peak_bitmap), f"{peak_pool / peak_bitmap:.4f}×"))
    t_v6, _ = timed(lambda: create_pool("fd00::/64", True))
    peak_v6, _, _ = traced(lambda: create_pool("fd00::/64", True))
    rows.append(("create fd00::/64 pool: time, peak memory",
                 f"{t_v6 * 1e6:.0f} µs, {human_bytes(peak_v6)}",
                 "2 EiB bitmap (not attempted)", "—"))

    # filling a /16
    t_naive, _ = timed(lambda: fill_naive(hosts, bits))
    t_core, _ = timed(lambda: fill_core(hosts, bits))
    rows.append((f"fill a /{bits} ({hosts} addresses) one at a time: Allocator (core)",
                 rate(hosts, t_core), f"{rate(hosts, t_naive)} (set + hint, bookkeeping only)",
                 f"{t_naive / t_core:.3f}×"))
    last = min(1000, hosts // 2)
    t_tail, t_scan = tail_of_fill(hosts, bits, last)
    rows.append((f"last {last} calls of that fill", rate(last, t_tail),
                 f"{rate(last, t_scan)} (set, lowest free scanned from .1)",
                 f"{t_scan / t_tail:.0f}×"))
    t_memory = t_core
    if args.state in ("both", "none"):
        t_memory, _ = timed(lambda: fill_service(IpamService(), hosts, bits))
        rows.append((f"fill a /{bits}: IpamService routes, --state none", rate(hosts, t_memory),
                     rate(hosts, t_naive), f"{t_naive / t_memory:.3f}×"))
    if args.state in ("both", "file"):
        directory = Path(tempfile.mkdtemp(prefix="ipamx-bench-", dir=args.state_dir))
        try:
            allocator, store = open_state(directory / "bench.state.json", IpamConfig())
            service = IpamService(allocator, store=store)
            t_file, _ = timed(lambda: fill_service(service, hosts, bits))
            service.close()
            size = (directory / "bench.state.json").stat().st_size
            rows.append((f"fill a /{bits}: IpamService routes, --state FILE (fsync per call)",
                         rate(hosts, t_file), f"{rate(hosts, t_memory)} (in memory)",
                         f"{t_memory / t_file:.3f}×"))
            rows.append((f"state file after the /{bits} fill ({store.compactions} compactions)",
                         human_bytes(size), "—", "—"))
        finally:
            shutil.rmtree(directory)

    # memory retained
    _, kept_naive, _ = traced(lambda: fill_naive(hosts, bits))
    _, kept_core, _ = traced(lambda: fill_service(IpamService(), hosts, bits))
    _, kept_runs, runs = traced(lambda: fill_runset(hosts))
    _, kept_empty, _ = traced(lambda: create_pool("10.0.0.0/8", False))
    rows.append((f"memory after filling a /{bits} through IpamService (with {hosts} leases)",
                 human_bytes(kept_core),
                 f"{human_bytes(kept_naive)} (set of ints)", f"{kept_core / kept_naive:.2f}×"))
    rows.append((f"memory after filling a /{bits}: address set alone "
                 f"({len(runs.runs())} run)", human_bytes(kept_runs), human_bytes(kept_naive),
                 f"{kept_runs / kept_naive:.5f}×"))
    rows.append(("memory after creating an empty 10.0.0.0/8", human_bytes(kept_empty),
                 f"{human_bytes(kept_core)} (the filled /{bits})",
                 f"{kept_empty / kept_core:.4f}×"))

    print(f"Python {sys.version.split()[0]}, {time.strftime('%Y-%m-%d')}\n")
    print("| measurement | ipamx-spy | baseline | ratio (ipamx-spy vs baseline) |")
    print("| --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print("\nratio: time and memory as ipamx-spy / baseline; rates as ipamx-spy / baseline.")


if __name__ == "__main__":
    main()
