"""Plugin addresses: socket paths, ``unix://``, ``tcp://`` and names resolved the dockerd way.

PROTOCOL.md 1.1: a name ``N`` is looked up as ``/run/docker/plugins/N.sock``, then
``/run/docker/plugins/N/N.sock``, then ``N.spec`` / ``N/N.spec`` / ``N.json`` / ``N/N.json`` in
``/etc/docker/plugins`` and ``/usr/lib/docker/plugins``. The first hit wins.
"""

from __future__ import annotations

import enum
import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path

SOCKET_DIR = Path("/run/docker/plugins")
SPEC_DIRS = (Path("/etc/docker/plugins"), Path("/usr/lib/docker/plugins"))
BUILTIN = "builtin"


class AddressError(ValueError):
    """An address that cannot be used: unknown scheme, unresolvable name, https (TLS)."""


class AddressKind(enum.StrEnum):
    """How a plugin is reached: a Unix socket, TCP, or the built-in plugin in process."""

    UNIX = "unix"
    TCP = "tcp"
    BUILTIN = "builtin"


@dataclass(frozen=True, kw_only=True)
class Address:
    """Where a plugin listens: a Unix socket path or a TCP host and port (or the built-in)."""

    kind: AddressKind
    path: str = ""
    host: str = ""
    port: int = 0
    source: str = ""  # how it was found, for messages ("name ipamx via /etc/docker/plugins/x.spec")

    def __post_init__(self) -> None:
        """A kind given as its word becomes the member; ValueError for any other word."""
        if not isinstance(self.kind, AddressKind):
            object.__setattr__(self, "kind", AddressKind(self.kind))

    def __str__(self) -> str:
        if self.kind is AddressKind.UNIX:
            return f"unix://{self.path}"
        if self.kind is AddressKind.TCP:
            return f"tcp://{self.host}:{self.port}"
        return BUILTIN

    @property
    def host_header(self) -> str:
        """The Host value dockerd >= 20.10.26 sends for this address (PROTOCOL.md 1.2)."""
        return (f"{self.host}:{self.port}" if self.kind is AddressKind.TCP
                else "plugin.moby.localhost")


def _is_socket(path: Path) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def parse_url(text: str, source: str = "") -> Address:
    """An address from a URL or a path. Raises AddressError for what dockerd could not dial."""
    text = text.strip()
    if text == BUILTIN:
        return Address(kind=AddressKind.BUILTIN, source=source or "built-in")
    if text.startswith("/") or text.startswith("./"):
        return Address(kind=AddressKind.UNIX, path=text, source=source or text)
    scheme, sep, rest = text.partition("://")
    if not sep:
        raise AddressError(f"{text!r} is not a path or a URL (unix://PATH, tcp://HOST:PORT)")
    if scheme == "unix":
        return Address(kind=AddressKind.UNIX, path=rest, source=source or text)
    if scheme in {"tcp", "http"}:
        host, _, port = rest.rstrip("/").rpartition(":")
        if not host or not port.isdigit():
            raise AddressError(f"{text!r}: expected {scheme}://HOST:PORT")
        return Address(kind=AddressKind.TCP, host=host.strip("[]"), port=int(port),
                       source=source or text)
    if scheme == "https":
        raise AddressError(f"{text!r}: TLS plugins are not supported by ipamx-spy yet")
    raise AddressError(f"{text!r}: unknown protocol {scheme!r} (dockerd says 'Unknown protocol')")


def resolve_name(
    name: str,
    *,
    socket_dir: Path = SOCKET_DIR,
    spec_dirs: tuple[Path, ...] = SPEC_DIRS,
) -> Address:
    """Resolve a plugin name like dockerd's legacy registry. Raises AddressError if not found."""
    for candidate in (socket_dir / f"{name}.sock", socket_dir / name / f"{name}.sock"):
        if _is_socket(candidate):
            return Address(kind=AddressKind.UNIX, path=str(candidate),
                           source=f"plugin {name} at {candidate}")
    for directory in spec_dirs:
        for candidate in (
            directory / f"{name}.spec", directory / name / f"{name}.spec",
            directory / f"{name}.json", directory / name / f"{name}.json",
        ):
            if candidate.exists():
                return _from_spec_file(candidate, name)
    raise AddressError(
        f"could not find plugin {name} in v1 plugin registry: plugin not found "
        f"(looked in {socket_dir} and {', '.join(map(str, spec_dirs))})"
    )


def _from_spec_file(path: Path, name: str) -> Address:
    text = path.read_text()
    source = f"plugin {name} via {path}"
    if path.suffix == ".json":
        try:
            url = json.loads(text)["Addr"]
        except (ValueError, KeyError, TypeError) as exc:
            raise AddressError(f"{path}: not a plugin .json file with an Addr ({exc})") from exc
        return parse_url(str(url), source)
    return parse_url(text, source)


def parse(text: str, **lookup: Path | tuple[Path, ...]) -> Address:
    """An address from anything a user may type: path, URL, ``builtin`` or a plugin name."""
    text = text.strip()
    if not text:
        raise AddressError("empty plugin address")
    if "://" in text or text.startswith(("/", "./")) or text == BUILTIN:
        return parse_url(text)
    if os.sep in text:
        return parse_url("./" + text if not text.startswith(".") else text)
    return resolve_name(text, **lookup)  # type: ignore[arg-type]
