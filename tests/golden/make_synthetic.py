"""Build tests/golden/synthetic.jsonl: the talk scenario as dockerd 20.10.24 plays it.

Scenario (PROTOCOL.md 5 and the bodies of 7): ``docker network create --ipam-driver ipamx
--subnet 10.4.4.0/24 talk`` (first use of the plugin, so it is activated), ``docker run
--net talk --ip 10.4.4.21 --name web``, the same command again (refused: the address is taken),
``docker run --rm --net talk alpine true`` (gets 10.4.4.2, releases it on exit), ``docker stop
web``, ``docker rm web`` (no plugin calls), ``docker network rm talk``. The first commands are
left for the exports to infer; the last three carry markers, as ``ipamx-spy mark`` writes them.
There are three notes. Exchange 9 shows the empty-body retry hazard of PROTOCOL.md 1.6: the
plugin closes the connection without answering the release, dockerd re-sends it on a new
connection with an empty body (exchange 10), and the plugin refuses that.

Run ``python tests/golden/make_synthetic.py`` to rewrite the file; the tests check that the
committed file is what this script writes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from ipamx_spy.recording import Exchange, Fault, Message, encode_body, go_json, make_header

HERE = Path(__file__).resolve().parent
TARGET = HERE / "synthetic.jsonl"
CONTENT_TYPE = "application/vnd.docker.plugins.v1.2+json"
POOL_ID = "LocalDefault/10.4.4.0/24"
GATEWAY = {"RequestAddressType": "com.docker.network.gateway"}
EMPTY_REFUSAL = "ipamx-spy: empty request body where arguments are required"


def _request(endpoint: str, body: Any) -> Message:
    raw = b"" if body is None else (go_json(body) + "\n").encode()
    headers = (("Host", ""), ("User-Agent", "Go-http-client/1.1"),
               ("Content-Length", str(len(raw))),
               ("Accept", "application/vnd.docker.plugins.v1.2+json"))
    return Message(method="POST", target=f"/{endpoint}", headers=headers, body=encode_body(raw))


def _response(body: Any, status: int = 200, second: int = 0) -> Message:
    raw = (go_json(body) + "\n").encode()
    headers = (("Content-Type", CONTENT_TYPE),
               ("Date", f"Fri, 27 Nov 2026 10:00:{second:02d} GMT"),
               ("Content-Length", str(len(raw))))
    reason = {200: "OK", 400: "Bad Request"}[status]
    return Message(status=status, reason=reason, headers=headers, body=encode_body(raw))


CALLS: list[tuple[float, str, Any, Any]] = [
    # docker network create --ipam-driver ipamx --subnet 10.4.4.0/24 talk
    (1.204, "Plugin.Activate", None, {"Implements": ["IpamDriver"]}),
    (1.207, "IpamDriver.GetCapabilities", None,
     {"RequiresMACAddress": False, "RequiresRequestReplay": True}),
    (1.209, "IpamDriver.GetDefaultAddressSpaces", None,
     {"LocalDefaultAddressSpace": "LocalDefault", "GlobalDefaultAddressSpace": "GlobalDefault"}),
    (1.213, "IpamDriver.RequestPool",
     {"AddressSpace": "LocalDefault", "Pool": "10.4.4.0/24", "SubPool": "", "Options": {},
      "V6": False},
     {"PoolID": POOL_ID, "Pool": "10.4.4.0/24", "Data": {}}),
    (1.216, "IpamDriver.RequestAddress", {"PoolID": POOL_ID, "Address": "", "Options": GATEWAY},
     {"Address": "10.4.4.1/24", "Data": {}}),
    # docker run -d --net talk --ip 10.4.4.21 --name web nginx
    (6.580, "IpamDriver.RequestAddress",
     {"PoolID": POOL_ID, "Address": "10.4.4.21", "Options": None},
     {"Address": "10.4.4.21/24", "Data": {}}),
    # the same again: refused
    (11.902, "IpamDriver.RequestAddress",
     {"PoolID": POOL_ID, "Address": "10.4.4.21", "Options": None},
     {"Error": "Address already in use"}),
    # docker run --rm --net talk alpine true
    (15.431, "IpamDriver.RequestAddress", {"PoolID": POOL_ID, "Address": "", "Options": None},
     {"Address": "10.4.4.2/24", "Data": {}}),
    # the container exits: its release dies with the connection, the retry comes empty
    (16.118, "IpamDriver.ReleaseAddress", {"PoolID": POOL_ID, "Address": "10.4.4.2"}, "closed"),
    (17.121, "IpamDriver.ReleaseAddress", None, (400, {"Err": EMPTY_REFUSAL})),
    # marker: docker stop web
    (21.660, "IpamDriver.ReleaseAddress", {"PoolID": POOL_ID, "Address": "10.4.4.21"}, {}),
    # marker: docker rm web (no plugin calls); marker: docker network rm talk
    (30.012, "IpamDriver.ReleaseAddress", {"PoolID": POOL_ID, "Address": "10.4.4.1"}, {}),
    (30.015, "IpamDriver.ReleasePool", {"PoolID": POOL_ID}, {}),
]

MARKERS = [(20.950, "docker stop web", 10), (25.301, "docker rm web", 11),
           (29.877, "docker network rm talk", 11)]
NOTES = {
    10: "dockerd's retry after the dropped connection has an empty body (PROTOCOL.md 1.6); "
        "the refusal is only logged, so 10.4.4.2 stays allocated until the pool goes",
    6: "--ip arrives as a plain address; the answer must be CIDR (10.4.4.21/24) or docker run "
       "fails with 'invalid CIDR address'",
    7: "Error in a 200 answer: IPAM calls use 'Error', network calls 'Err' (PROTOCOL.md 1.3)",
}


def _exchange(seq: int, t: float, endpoint: str, request: Any, response: Any) -> Exchange:
    conn = 1 if seq < 10 else 2
    if response == "closed":
        return Exchange(seq=seq, conn=conn, t=t, endpoint=endpoint,
                        request=_request(endpoint, request), response=None,
                        duration_ms=0.412, upstream_ms=None,
                        fault=Fault(side="plugin", kind="closed",
                                    message="the plugin closed the connection without answering"))
    status, body = response if isinstance(response, tuple) else (200, response)
    upstream = round(0.31 + 0.07 * (seq % 5), 3)
    return Exchange(seq=seq, conn=conn, t=t, endpoint=endpoint,
                    request=_request(endpoint, request),
                    response=_response(body, status, second=int(t)),
                    duration_ms=round(upstream + 0.19, 3), upstream_ms=upstream)


def records() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        make_header(name="ipamx", listen="/run/docker/plugins/ipamx.sock", upstream="builtin",
                    tool="ipamx-spy 0.1.0", started="2026-11-27T10:00:00.000000Z"),
        {"type": "open", "conn": 1, "t": 1.203, "peer": "docker"},
    ]
    for seq, (t, endpoint, request, response) in enumerate(CALLS, 1):
        for marker_t, text, after in MARKERS:
            if after == seq - 1:
                out.append({"type": "marker", "t": marker_t, "text": text, "after_seq": after})
        if seq == 10:
            out.append({"type": "open", "conn": 2, "t": 17.120, "peer": "docker"})
        out.append(_exchange(seq, t, endpoint, request, response).to_json())
        if seq == 9:
            out.append({"type": "close", "conn": 1, "t": 16.119, "reason": "upstream closed"})
    out += [{"type": "note", "seq": seq, "text": text, "t": 120.0 + seq}
            for seq, text in NOTES.items()]
    return out


def text() -> str:
    return "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n"
                   for r in records())


if __name__ == "__main__":
    TARGET.write_text(text(), encoding="utf-8")
    sys.stdout.write(f"wrote {TARGET}\n")
