"""Memory of a proxy session over a million exchanges: RSS after 10,000 vs after 1,000,000.

Drives the session the relay uses (numbering, record building, the recording writer, the
exit-summary aggregates) with dockerd's exact RequestAddress/ReleaseAddress bytes and the
answers of a plugin (framed once by the relay's taps: a tap is per connection), recording
into a private file in a temporary directory that is cut back to its header every 10,000
exchanges (the file's size is not the question; the process's memory is; the writer refuses
/dev/null, which is not a regular file). Bounded in time: ``--max-seconds`` stops early and
says how far it got.

Usage: python bench/memory.py [--exchanges 1000000] [--max-seconds 900]
Prints RSS after 10,000 exchanges, at the end, and the growth per million (target: +20 MiB).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

from ipamx_spy import tap
from ipamx_spy.client import docker_request
from ipamx_spy.proxy import ProxySession, answer
from ipamx_spy.recording import RecordingWriter, make_header

REQUEST = docker_request(
    "IpamDriver.RequestAddress",
    b'{"PoolID":"LocalDefault/10.4.0.0/16","Address":"","Options":null}\n', host="")
RELEASE = docker_request(
    "IpamDriver.ReleaseAddress",
    b'{"PoolID":"LocalDefault/10.4.0.0/16","Address":"10.4.0.2"}\n', host="")
ADDRESS = answer(200, b'{"Address":"10.4.0.2/16","Data":{}}\n').raw
RELEASED = answer(200, b"{}\n").raw


def rss_mib() -> float:
    """Resident set size now (not the peak), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def frame(raw: bytes, side: type[tap.RequestTap] | type[tap.ResponseTap]) -> tap.WireMessage:
    t = side()
    if isinstance(t, tap.ResponseTap):
        t.expect("POST")
    t.feed(raw)
    message = t.next_message()
    assert isinstance(message, tap.WireMessage)
    return message


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exchanges", type=int, default=1_000_000)
    parser.add_argument("--max-seconds", type=float, default=900.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ipx-memory-") as tmp:
        run(args.exchanges, args.max_seconds, Path(tmp) / "bench.jsonl")


def run(exchanges: int, max_seconds: float, path: Path) -> None:
    writer = RecordingWriter(path, make_header(name="bench"))
    header_size = path.stat().st_size
    session = ProxySession(writer=writer)
    pairs = [(frame(REQUEST, tap.RequestTap), frame(ADDRESS, tap.ResponseTap)),
             (frame(RELEASE, tap.RequestTap), frame(RELEASED, tap.ResponseTap))]
    started = time.monotonic()
    conn = session.open()
    at_10k = 0.0
    done = 0
    for done in range(1, exchanges + 1):
        request, reply = pairs[done % 2]
        pending = session.begin(conn, request.target)
        session.publish(session.complete(pending, request, reply, upstream_ms=0.05))
        if done % 10_000 == 0:
            os.truncate(path, header_size)  # O_APPEND: the next record goes after the header
        if done == 10_000:
            at_10k = rss_mib()
        if done % 50_000 == 0 and time.monotonic() - started > max_seconds:
            print(f"stopped after {done:,} exchanges (--max-seconds {max_seconds:g})")
            break
    end = rss_mib()
    elapsed = time.monotonic() - started
    per_million = (end - at_10k) / max(1, done - 10_000) * 1_000_000
    print(f"Python {sys.version.split()[0]}; {done:,} exchanges in {elapsed:.0f} s\n")
    print("| after | RSS MiB |")
    print("|---|---:|")
    print(f"| 10,000 exchanges | {at_10k:.1f} |")
    print(f"| {done:,} exchanges | {end:.1f} |")
    print(f"\ngrowth: {end - at_10k:+.1f} MiB ({per_million:+.1f} MiB per million exchanges; "
          f"summary holds {session.summary.calls:,} calls in "
          f"{len(session.summary.endpoints)} endpoint aggregates)")


if __name__ == "__main__":
    main()
