"""Fill a pool one address at a time over the plugin socket, as dockerd would ask.

Measured in one run, with one keep-alive connection sending dockerd's exact requests (over the
socket from a C client, ``bench/c/fill.c``, compiled with the machine's gcc at the start of the
run, so that the client's own cost stays out of the figure):

* baseline: the same RequestAddress calls straight into the in-process plugin (no socket);
* ``ipamx-spy serve --state none``: the built-in plugin on its socket;
* ``ipamx-spy serve --state FILE``: the same, every allocation journalled and fsync'd first;
* ``ipamx-spy proxy`` (built-in, recording on, quiet): the plugin with the recorder in the path.

Usage: python bench/allocator_socket.py [--prefix-len 16] [--file-prefix-len 20]
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _sockets import wait_socket  # bench/ is on sys.path when a script runs

from ipamx_spy.builtin import BuiltinConfig, make_plugin

HERE = Path(__file__).resolve().parent


def pool_request(pool: str) -> bytes:
    body = {"AddressSpace": "LocalDefault", "Pool": pool, "SubPool": "", "Options": {},
            "V6": False}
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


def address_request(pool: str) -> bytes:
    body = {"PoolID": f"LocalDefault/{pool}", "Address": "", "Options": None}
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


def fill(call: Callable[[str, bytes], bytes], pool: str) -> tuple[int, float]:
    """Request the pool, then every address; returns (calls, seconds)."""
    call("IpamDriver.RequestPool", pool_request(pool))
    hosts = ipaddress.ip_network(pool).num_addresses - 2
    body = address_request(pool)
    started = time.perf_counter()
    for _ in range(hosts):
        answer = json.loads(call("IpamDriver.RequestAddress", body))
        if "Address" not in answer:
            raise RuntimeError(f"allocation failed: {answer}")
    return hosts, time.perf_counter() - started


def in_process(pool: str) -> tuple[int, float]:
    plugin = make_plugin(BuiltinConfig())
    return fill(lambda endpoint, body: plugin.handle(endpoint, body).body, pool)


def compile_fill(work: Path) -> Path:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        sys.exit("a C compiler is needed (apt-get install gcc)")
    binary = work / "fill"
    subprocess.run([gcc, "-O2", "-o", str(binary), str(HERE / "c" / "fill.c")], check=True)
    return binary


def over_socket(client: Path, argv: list[str], sock: Path, pool: str) -> tuple[int, float]:
    """Start ``ipamx-spy ARGV``; the C client requests the pool, then every address."""
    process = subprocess.Popen([sys.executable, "-m", "ipamx_spy", *argv],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_socket(str(sock))
        hosts = ipaddress.ip_network(pool).num_addresses - 2
        rate = float(subprocess.run([str(client), str(sock), pool, str(hosts)],
                                    capture_output=True, text=True, check=True,
                                    timeout=3600).stdout)
        return hosts, hosts / rate
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prefix-len", type=int, default=16)
    parser.add_argument("--file-prefix-len", type=int, default=20,
                        help="pool size for the fsync-per-call run (it is the slow one)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ipx-abench-"))
    client = compile_fill(work)
    big, small = f"10.0.0.0/{args.prefix_len}", f"10.0.0.0/{args.file_prefix_len}"
    rows: list[tuple[str, str, int, float]] = []
    try:
        rows.append(("in-process plugin (baseline)", big, *in_process(big)))
        rows.append(("in-process plugin (baseline)", small, *in_process(small)))
        serve = ["serve", "--listen"]
        rows.append(("serve --state none", big, *over_socket(
            client, [*serve, str(work / "a.sock"), "--state", "none"], work / "a.sock", big)))
        rows.append(("serve --state FILE (fsync per call)", small, *over_socket(
            client, [*serve, str(work / "b.sock"), "--state", str(work / "s.json")],
            work / "b.sock", small)))
        rows.append(("proxy, built-in, recording, --quiet", big, *over_socket(
            client, ["proxy", "--listen", str(work / "c.sock"), "--state", "none", "--quiet",
             "--record", str(work / "r.jsonl"), "--control", str(work / "c.ctl")],
            work / "c.sock", big)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(rows)


def report(rows: list[tuple[str, str, int, float]]) -> None:
    base = {pool: calls / seconds for name, pool, calls, seconds in rows if "baseline" in name}
    print("| path | pool | addresses | calls/s | vs in-process |")
    print("|---|---|---:|---:|---:|")
    for name, pool, calls, seconds in rows:
        per_s = calls / seconds
        print(f"| {name} | {pool} | {calls:,} | {per_s:,.0f} | {per_s / base[pool]:.2f}x |")


if __name__ == "__main__":
    main()
