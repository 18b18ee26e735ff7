"""Plugin addresses, resolved the way dockerd's legacy registry resolves them."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from ipamx_spy import address
from ipamx_spy.address import Address, AddressError


@pytest.fixture
def dirs(sockdir: Path) -> tuple[Path, tuple[Path, Path]]:
    socket_dir = sockdir / "run"
    spec_dirs = (sockdir / "etc", sockdir / "lib")
    for d in (socket_dir, *spec_dirs):
        d.mkdir()
    return socket_dir, spec_dirs


def listen(path: Path) -> socket.socket:
    path.parent.mkdir(parents=True, exist_ok=True)
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(path))
    return sock


def resolve(name: str, dirs: tuple[Path, tuple[Path, Path]]) -> Address:
    socket_dir, spec_dirs = dirs
    return address.resolve_name(name, socket_dir=socket_dir, spec_dirs=spec_dirs)


@pytest.mark.parametrize(("text", "expected"), [
    ("/run/p.sock", Address(kind="unix", path="/run/p.sock")),
    ("unix:///run/p.sock", Address(kind="unix", path="/run/p.sock")),
    ("tcp://127.0.0.1:9000", Address(kind="tcp", host="127.0.0.1", port=9000)),
    ("http://[::1]:80", Address(kind="tcp", host="::1", port=80)),
    ("builtin", Address(kind="builtin")),
])
def test_urls_and_paths(text: str, expected: Address) -> None:
    got = address.parse(text)
    assert (got.kind, got.path, got.host, got.port) == (
        expected.kind, expected.path, expected.host, expected.port)


@pytest.mark.parametrize(("text", "words"), [
    ("ftp://x", "unknown protocol 'ftp'"),
    ("https://h:1", "TLS plugins are not supported"),
    ("tcp://nohost", "expected tcp://HOST:PORT"),
    ("", "empty plugin address"),
])
def test_unusable_addresses(text: str, words: str) -> None:
    with pytest.raises(AddressError, match=words):
        address.parse(text)


def test_socket_first_then_nested_socket(dirs: tuple[Path, tuple[Path, Path]]) -> None:
    socket_dir, _ = dirs
    nested = listen(socket_dir / "p" / "p.sock")
    assert resolve("p", dirs).path == str(socket_dir / "p" / "p.sock")
    flat = listen(socket_dir / "p.sock")
    assert resolve("p", dirs).path == str(socket_dir / "p.sock")
    nested.close()
    flat.close()


def test_a_regular_file_named_sock_is_not_a_socket(dirs: tuple[Path, tuple[Path, Path]]) -> None:
    socket_dir, (etc, _) = dirs
    (socket_dir / "p.sock").write_text("not a socket")
    (etc / "p.spec").write_text("tcp://127.0.0.1:7000\n")
    assert resolve("p", dirs).port == 7000


def test_spec_and_json_files_in_order(dirs: tuple[Path, tuple[Path, Path]]) -> None:
    _, (etc, lib) = dirs
    (lib / "q.spec").write_text("unix:///from/lib.sock")
    assert resolve("q", dirs).path == "/from/lib.sock"
    (etc / "q.json").write_text(json.dumps({"Name": "ignored", "Addr": "tcp://10.0.0.1:8080"}))
    got = resolve("q", dirs)
    assert (got.host, got.port) == ("10.0.0.1", 8080)
    assert "via" in got.source and "q.json" in got.source
    (etc / "q.spec").write_text("  unix:///from/etc.sock \n")
    assert resolve("q", dirs).path == "/from/etc.sock"


def test_spec_without_scheme_and_broken_json(dirs: tuple[Path, tuple[Path, Path]]) -> None:
    _, (etc, _) = dirs
    (etc / "r.spec").write_text("localhost:80")
    with pytest.raises(AddressError, match="unknown protocol|not a path or a URL"):
        resolve("r", dirs)
    (etc / "s.json").write_text("{}")
    with pytest.raises(AddressError, match="not a plugin .json file"):
        resolve("s", dirs)


def test_unknown_name_says_where_it_looked(dirs: tuple[Path, tuple[Path, Path]]) -> None:
    with pytest.raises(AddressError, match="plugin not found"):
        resolve("nobody", dirs)


def test_an_address_kind_is_an_enum_member_however_it_was_given() -> None:
    from ipamx_spy.address import AddressKind

    assert address.parse_url("/run/p.sock").kind is AddressKind.UNIX
    assert address.parse_url("tcp://h:1").kind is AddressKind.TCP
    assert address.parse_url("builtin").kind is AddressKind.BUILTIN
    given_as_word = Address(kind="unix", path="/p")  # type: ignore[arg-type]
    assert given_as_word.kind is AddressKind.UNIX and given_as_word == Address(
        kind=AddressKind.UNIX, path="/p")
    assert str(given_as_word) == "unix:///p"
    with pytest.raises(ValueError, match="'udp'"):
        Address(kind="udp")  # type: ignore[arg-type]
