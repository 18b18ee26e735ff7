"""Helper for test_ipam_crash.py (not a test): allocate forever, report what is durable.

Usage: python ipam_crash_child.py STATE_FILE. Prints ``+ADDR`` after each RequestAddress has
returned (so after its journal entry was fsync'd), ``?ADDR`` before and ``-ADDR`` after each
ReleaseAddress. The test kills this process with SIGKILL at a random moment.
"""

from __future__ import annotations

import sys

from ipamx_spy.app import PluginError
from ipamx_spy.ipam import IpamConfig, IpamService, open_state

POOL = "LocalDefault/10.77.0.0/16"


def main(path: str) -> None:
    allocator, store = open_state(path, IpamConfig(), compact_bytes=4096)
    routes = IpamService(allocator, store=store).routes()
    try:
        routes["IpamDriver.RequestPool"]({"AddressSpace": "LocalDefault", "Pool": "10.77.0.0/16"})
    except PluginError:
        pass  # already there from an earlier run
    serial = {"com.docker.network.ipam.serial": "true"}
    mine: list[str] = []
    for count in range(1, 1_000_000):
        answer = routes["IpamDriver.RequestAddress"](
            {"PoolID": POOL, "Address": "", "Options": serial if count % 3 else None})
        address = answer["Address"].split("/")[0]
        mine.append(address)
        print(f"+{address}", flush=True)
        if count % 7 == 0:
            victim = mine.pop(len(mine) // 2)
            print(f"?{victim}", flush=True)
            routes["IpamDriver.ReleaseAddress"]({"PoolID": POOL, "Address": victim})
            print(f"-{victim}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
