"""Record docker commands back to back, with no marker between them (run as root).

The corpus of ``scripts/record_corpus.py`` puts a marker (``ipamx-spy mark``, a process start
of a few hundred milliseconds) before every command, so its commands never follow each other
as closely as a script's do. Inference must also cut a script's commands apart; the captures
this writes into ``tests/captures/`` are its tests (``tests/test_infer_recordings.py``).

Usage: python scripts/record_bursts.py [NAME ...]
"""

from __future__ import annotations

import argparse
import socket

from record_corpus import ROOT, Scenario, Session, Step, record, renamed, s

OUT = ROOT / "tests" / "captures"

API = "POST {path} {body}"
"""A Docker Engine API call, as a client library (docker-py, testcontainers) makes it: no CLI
process starts between two calls, so they follow each other within milliseconds."""

BURSTS: dict[str, Scenario] = {
    "create-burst": Scenario(
        "through the Engine API, back to back: a good network create, a failing one (its pool "
        "overlaps), a container with --ip on the first network",
        (s(API.format(path="/networks/create", body='{"Name":"burst1","Driver":"bridge",'
                      '"IPAM":{"Driver":"ipamx","Config":[{"Subnet":"10.70.0.0/24"}]}}')),
         s(API.format(path="/networks/create", body='{"Name":"burst2","Driver":"bridge",'
                      '"IPAM":{"Driver":"ipamx","Config":[{"Subnet":"10.70.0.0/24"}]}}'),
           fails=True),
         s(API.format(path="/containers/create?name=b1",
                      body='{"Image":"bb:latest","Cmd":["sleep","600"],"HostConfig":'
                           '{"NetworkMode":"burst1"},"NetworkingConfig":{"EndpointsConfig":'
                           '{"burst1":{"IPAMConfig":{"IPv4Address":"10.70.0.9"}}}}}')),
         s(API.format(path="/containers/b1/start", body="{}")),
         s("rm -f b1"), s("network rm burst1"))),
}


class BurstSession(Session):
    """A corpus session without markers, whose ``POST`` steps go to the Engine API."""

    def mark(self, text: str) -> None:
        del text

    def step(self, step: Step) -> None:
        if not step.command.startswith("POST "):
            super().step(step)
            return
        assert self.docker is not None
        _, path, body = step.command.split(" ", 2)
        body = renamed(body, self.plugin_name)
        with socket.socket(socket.AF_UNIX) as conn:
            conn.connect(str(self.docker.socket))
            conn.sendall(f"POST {path} HTTP/1.1\r\nHost: docker\r\nContent-Type: "
                         f"application/json\r\nContent-Length: {len(body)}\r\n"
                         f"Connection: close\r\n\r\n{body}".encode())
            answer = b"".join(iter(lambda: conn.recv(65536), b""))
        status = int(answer.split(b" ", 2)[1])
        if (status >= 400) != step.fails:
            raise RuntimeError(f"{step.command}: unexpected status {status}\n{answer!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", default=list(BURSTS))
    args = parser.parse_args()
    for name in args.names:
        print(record(name, OUT, scenario=BURSTS[name], session_type=BurstSession))


if __name__ == "__main__":
    main()
