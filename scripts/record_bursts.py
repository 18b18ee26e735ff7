"""Record docker commands back to back, with no marker between them (run as root).

The corpus of ``scripts/record_corpus.py`` puts a marker (``ipamx-spy mark``, a process start
of a few hundred milliseconds) before every command, so its commands never follow each other
as closely as a script's do. Inference must also cut a script's commands apart; the captures
this writes into ``tests/captures/`` are its tests (``tests/test_infer_recordings.py``).

Usage: python scripts/record_bursts.py [NAME ...] [--dockerd 20.10|26.1|28.5]
"""

from __future__ import annotations

import argparse
import http.server
import json
import re
import secrets
import socket
import socketserver
import threading
from pathlib import Path

from record_corpus import DAEMONS, HOST, ROOT, Scenario, Session, Step, record, renamed, s

from ipamx_spy.emulator.probe import ProbePlugin

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
    "global-scope": Scenario(
        "a network driver of global scope on a daemon outside swarm mode: dockerd calls "
        "CreateNetwork, then refuses and rolls back",
        (s("network create -d ipamx --ipam-driver ipamx --subnet 10.80.0.0/24 gnet",
           fails=True),)),
    "global-scope-accepted": Scenario(
        "the same on 26.1 and 28.5, which create the network (and remove it again)",
        (s("network create -d ipamx --ipam-driver ipamx --subnet 10.80.0.0/24 gnet"),
         s("network rm gnet"))),
}


class BurstSession(Session):
    """A corpus session without markers, whose ``POST`` steps go to the Engine API."""

    def mark(self, text: str) -> None:
        """No marker; what docker said about a failure goes to the terminal."""
        if text.startswith("docker said: "):
            print(f"  {text}")

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


class ProbeHandler(http.server.BaseHTTPRequestHandler):
    """HTTP/1.1 in front of a ``ProbePlugin`` (``server.plugin``)."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        reply = self.server.plugin.handle(self.path.lstrip("/"), body)  # type: ignore[attr-defined]
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        del format, args


class ProbeSession(BurstSession):
    """The probe plugin of ``scenarios/captures`` (here with a global-scope network driver)
    instead of the built-in one, served from this process."""

    probe = ProbePlugin(scope="global")

    def start_plugin(self) -> None:
        server = socketserver.ThreadingUnixStreamServer(str(self.work / "plugin.sock"),
                                                        ProbeHandler)
        server.plugin = self.probe  # type: ignore[attr-defined]
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="probe", daemon=True).start()
        self.server = server

    def stop_plugin(self) -> None:
        self.server.shutdown()
        self.server.server_close()


SESSIONS: dict[str, type[Session]] = {"global-scope": ProbeSession,
                                      "global-scope-accepted": ProbeSession}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", default=list(BURSTS))
    parser.add_argument("--dockerd", choices=list(DAEMONS), default=HOST.label)
    args = parser.parse_args()
    daemon = DAEMONS[args.dockerd]
    out = OUT if daemon is HOST else OUT / f"dockerd-{daemon.label}"
    for name in args.names:
        # a fresh plugin name: other sessions (the corpus's "ipamx", tests) may run beside
        session = SESSIONS.get(name, BurstSession)
        path = record(name, out, daemon=daemon, plugin=f"ipxb{secrets.token_hex(3)}",
                      scenario=BURSTS[name], session_type=session)
        relabel(path, probe=session is ProbeSession)
        print(path)


def relabel(path: Path, *, probe: bool) -> None:
    """The header's ``source`` names this script (and the probe, when it was the plugin)."""
    lines = path.read_text().splitlines(keepends=True)
    header = json.loads(lines[0])
    source = str(header["source"]).replace("record_corpus.py", "record_bursts.py")
    if probe:
        source = re.sub(r"in front of .*", "in front of the probe plugin (ipamx_spy.emulator."
                        "probe) with a global-scope network driver", source)
    header["source"] = source
    path.write_text(json.dumps(header, separators=(",", ":")) + "\n" + "".join(lines[1:]))


if __name__ == "__main__":
    main()
