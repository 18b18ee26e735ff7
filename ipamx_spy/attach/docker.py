"""The few Docker Engine API calls ipamx-spy makes, over dockerd's Unix socket (or plain TCP).

``docker plugin ls`` data to find a managed plugin's socket, and what ``plugin build`` needs:
create and export a container, create and enable a plugin. Blocking ``http.client``; no asyncio.
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from ..address import SOCKET_DIR

DEFAULT_HOST = "unix:///var/run/docker.sock"
BLOCK = 1 << 20  # bytes per write of an uploaded body (a plugin archive is ~200 MB)


class DockerError(RuntimeError):
    """dockerd could not be reached, or refused a call; the message names the host and call."""


def docker_host(option: str | None) -> str:
    """``--docker-host``, else ``$DOCKER_HOST``, else dockerd's default socket."""
    return option or os.environ.get("DOCKER_HOST") or DEFAULT_HOST


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout, blocksize=BLOCK)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.socket_path)
        self.sock = sock


class DockerAPI:
    """dockerd at ``host`` (``unix://PATH``, ``tcp://HOST:PORT`` or ``http://HOST:PORT``)."""

    def __init__(self, host: str, timeout: float = 300.0) -> None:
        scheme, _, rest = host.partition("://")
        if scheme not in {"unix", "tcp", "http"} or not rest:
            raise DockerError(f"docker host {host!r}: expected unix://PATH or tcp://HOST:PORT "
                              "(TLS is not supported)")
        self.host = host
        self._scheme, self._where, self._timeout = scheme, rest, timeout

    def _connection(self) -> http.client.HTTPConnection:
        if self._scheme == "unix":
            return _UnixConnection(self._where, self._timeout)
        return http.client.HTTPConnection(self._where.rstrip("/"), timeout=self._timeout,
                                          blocksize=BLOCK)

    @contextmanager
    def call(self, method: str, path: str, *, body: bytes | IO[bytes] | None = None,
             headers: dict[str, str] | None = None) -> Iterator[http.client.HTTPResponse]:
        """The response to one call, open for reading. Raises DockerError (status >= 400)."""
        connection = self._connection()
        try:
            try:
                connection.request(method, path, body=body, headers=headers or {})
                response = connection.getresponse()
            except OSError as exc:
                raise DockerError(f"dockerd at {self.host}: {method} {path}: "
                                  f"{exc.strerror or exc}") from exc
            if response.status >= 400:
                raise DockerError(f"dockerd at {self.host}: {method} {path}: "
                                  f"{response.status} {_message(response.read())}")
            yield response
        finally:
            connection.close()

    def json(self, method: str, path: str, payload: Any = None) -> Any:
        """A call with an optional JSON body; the decoded answer (None when empty)."""
        body = None if payload is None else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        with self.call(method, path, body=body, headers=headers) as response:
            data = response.read()
        return json.loads(data) if data.strip() else None


def _message(data: bytes) -> str:
    try:
        return str(json.loads(data)["message"])
    except (ValueError, KeyError, TypeError):
        return data.decode(errors="replace").strip()


def quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


# -- managed plugins ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ManagedPlugin:
    """One entry of ``docker plugin ls``."""

    id: str
    name: str  # as dockerd shows it: "ipamx:latest"
    enabled: bool
    socket: str  # config.interface.socket, a name inside the plugin's socket directory
    types: tuple[str, ...]  # "docker.ipamdriver/1.0", ...

    def socket_path(self, socket_dir: Path = SOCKET_DIR) -> Path:
        """Where dockerd dials it (PROTOCOL.md 1.1: /run/docker/plugins/<id>/<socket>)."""
        return socket_dir / self.id / self.socket


def _names(name: str) -> set[str]:
    return {name, f"{name}:latest"} if ":" not in name.rsplit("/", 1)[-1] else {name}


def _managed(entry: dict[str, Any]) -> ManagedPlugin:
    interface = entry.get("Config", {}).get("Interface", {})
    types = tuple(t if isinstance(t, str) else f"{t['Prefix']}.{t['Capability']}/{t['Version']}"
                  for t in interface.get("Types") or ())  # strings in the API, objects inside
    return ManagedPlugin(id=entry["Id"], name=entry["Name"], enabled=bool(entry["Enabled"]),
                         socket=interface.get("Socket", ""), types=types)


def find_managed(api: DockerAPI, name: str) -> ManagedPlugin | None:
    """The managed plugin dockerd knows as ``name`` (``N`` means ``N:latest``), or None.

    Raises DockerError when dockerd cannot be asked.
    """
    wanted = _names(name)
    for entry in api.json("GET", "/plugins") or ():
        if entry.get("Name") in wanted:
            return _managed(entry)
    return None
