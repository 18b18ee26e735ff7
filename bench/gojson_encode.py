"""Micro-bench of the one Go JSON encoder (issue #12, G1): ``recording.go_json``
(``dockerd.gojson.fields``, a module-level encoder) against the encoder it replaced
(``json.dumps`` with separators, which builds a new encoder per call, plus Go's escapes) on the
built-in plugin's typical replies. Prints µs per call, the ratio and the load average."""

from __future__ import annotations

import json
import os
import timeit
from typing import Any

from ipamx_spy.recording import go_json

BODIES: list[Any] = [
    {"PoolID": "ipamx/LocalDefault/10.4.4.0/24", "Pool": "10.4.4.0/24", "Data": {}},
    {"Address": "10.4.4.2/24", "Data": {}},
    {"LocalDefaultAddressSpace": "LocalDefault", "GlobalDefaultAddressSpace": "GlobalDefault"},
    {"Interface": {"Address": "10.4.4.2/24", "AddressIPv6": "", "MacAddress": "02:42:0a:04:04:02"}},
    {},
    {"Err": "ipamx-spy: upstream <unix:///run/plugin.sock> refused & closed"},
]


def old_go_json(value: Any) -> str:
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return (text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
            .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029"))


def per_call(function: Any, rounds: int = 20000) -> float:
    def run() -> None:
        for body in BODIES:
            function(body)
    best = min(timeit.repeat(run, number=rounds // len(BODIES), repeat=5))
    return best / (rounds // len(BODIES) * len(BODIES)) * 1e6


def main() -> None:
    assert all(go_json(b) == old_go_json(b) for b in BODIES)
    old = per_call(old_go_json)
    new = per_call(go_json)
    print(f"old go_json (json.dumps per call): {old:.2f} µs/body")
    print(f"new go_json (gojson.fields):        {new:.2f} µs/body")
    print(f"ratio old/new: {old / new:.2f}x   load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
