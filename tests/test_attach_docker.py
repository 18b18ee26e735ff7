"""The Docker API side: managed plugins by name, locate(), and `plugin build`'s archive."""

from __future__ import annotations

import io
import json
import socketserver
import tarfile
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from test_attach_fs import TagServer

from ipamx_spy.attach import AttachError, locate
from ipamx_spy.attach.bundle import (
    MANIFEST_IN_IMAGE,
    BundleError,
    bind_sources,
    build_plugin,
    check_manifest,
    plugin_archive,
)
from ipamx_spy.attach.docker import DockerAPI, DockerError, docker_host, find_managed

REPO = Path(__file__).resolve().parents[1]
PLUGIN_ID = "47ab4c9a282ed889619716a52641da7542c1945914c4d53780383fe8f9a4e7c8"


def plugin_entry(name: str = "acme:latest", enabled: bool = True) -> dict[str, Any]:
    """One entry of GET /plugins as dockerd 20.10.24 answers it (trimmed)."""
    return {"Config": {"Interface": {"Socket": "ipamx.sock",
                                     "Types": ["docker.ipamdriver/1.0",
                                               "docker.networkdriver/1.0"]},
                       "Network": {"Type": "host"}, "WorkDir": "/var/lib/ipamx-spy"},
            "Enabled": enabled, "Id": PLUGIN_ID, "Name": name, "PluginReference": name,
            "Settings": {"Args": ["--quiet"], "Devices": [], "Env": [], "Mounts": []}}


class FakeDocker(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """Answers the calls ipamx-spy makes from a table; remembers every request."""

    daemon_threads = True

    def __init__(self, path: Path) -> None:
        self.plugins: list[dict[str, Any]] = []
        self.calls: list[tuple[str, str]] = []
        self.uploads: dict[str, bytes] = {}
        self.export = b""
        super().__init__(str(path), _Handler)
        self.host = f"unix://{path}"


class _Handler(BaseHTTPRequestHandler):
    server: FakeDocker

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, payload: Any = None, raw: bytes | None = None) -> None:
        body = raw if raw is not None else b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _route(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.server.calls.append((method, self.path))
        fake = self.server
        if (method, self.path) == ("GET", "/plugins"):
            return self._answer(200, fake.plugins)
        if (method, self.path) == ("POST", "/containers/create"):
            return self._answer(201, {"Id": "c0ffee", "Warnings": []})
        if (method, self.path) == ("GET", "/containers/c0ffee/export"):
            return self._answer(200, raw=fake.export)
        if method == "POST" and self.path.startswith("/plugins/create?name="):
            name = self.path.split("=", 1)[1]
            fake.uploads[name] = body
            fake.plugins.append(plugin_entry(f"{name}:latest", enabled=False))
            return self._answer(204)
        if method == "POST" and self.path.endswith("/enable?timeout=30"):
            fake.plugins[-1]["Enabled"] = True
            return self._answer(200)
        if method == "DELETE":
            return self._answer(204)
        return self._answer(404, {"message": f"page not found: {self.path}"})

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_DELETE(self) -> None:
        self._route("DELETE")


@pytest.fixture
def fake_docker(sockdir: Path) -> Iterator[FakeDocker]:
    server = FakeDocker(sockdir / "docker.sock")
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


# -- the client and managed plugins -----------------------------------------------------------


def test_docker_host_comes_from_the_option_then_the_environment(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    assert docker_host(None) == "unix:///var/run/docker.sock"
    monkeypatch.setenv("DOCKER_HOST", "unix:///tmp/d.sock")
    assert docker_host(None) == "unix:///tmp/d.sock"
    assert docker_host("tcp://127.0.0.1:2375") == "tcp://127.0.0.1:2375"


def test_a_managed_plugin_is_found_by_its_short_or_full_name(fake_docker: FakeDocker) -> None:
    fake_docker.plugins = [plugin_entry("other:v2"), plugin_entry("acme:latest")]
    api = DockerAPI(fake_docker.host)
    for name in ("acme", "acme:latest"):
        plugin = find_managed(api, name)
        assert plugin is not None and plugin.name == "acme:latest"
    assert plugin.types == ("docker.ipamdriver/1.0", "docker.networkdriver/1.0")
    assert plugin.socket_path() == Path(f"/run/docker/plugins/{PLUGIN_ID}/ipamx.sock")
    assert find_managed(api, "other") is None  # other:v2 needs its tag
    assert find_managed(api, "other:v2") is not None


def test_errors_name_dockerd_the_call_and_its_message(fake_docker: FakeDocker,
                                                      sockdir: Path) -> None:
    with pytest.raises(DockerError, match=r"GET /nowhere: 404 page not found: /nowhere"):
        DockerAPI(fake_docker.host).json("GET", "/nowhere")
    with pytest.raises(DockerError, match=f"dockerd at unix://{sockdir}/gone.sock: GET /plugins"):
        DockerAPI(f"unix://{sockdir}/gone.sock").json("GET", "/plugins")
    with pytest.raises(DockerError, match="TLS is not supported"):
        DockerAPI("ssh://host")


def test_locate_prefers_a_managed_plugin_like_dockerd(fake_docker: FakeDocker,
                                                      sockdir: Path) -> None:
    fake_docker.plugins = [plugin_entry("acme:latest")]
    managed_dir = sockdir / "plugins" / PLUGIN_ID
    managed_dir.mkdir(parents=True)
    legacy = TagServer(sockdir / "plugins" / "acme.sock", b"legacy")
    managed = TagServer(managed_dir / "ipamx.sock", b"managed")
    try:
        target, warning = locate("acme", DockerAPI(fake_docker.host),
                                 socket_dir=sockdir / "plugins", spec_dirs=())
    finally:
        legacy.close()
        managed.close()
    assert (target.path, warning) == (managed_dir / "ipamx.sock", None)
    assert target.how.startswith("managed plugin acme:latest (id 47ab4c9a282e)")


def test_a_disabled_managed_plugin_is_refused(fake_docker: FakeDocker, sockdir: Path) -> None:
    fake_docker.plugins = [plugin_entry("acme:latest", enabled=False)]
    with pytest.raises(AttachError, match="docker plugin enable acme:latest"):
        locate("acme", DockerAPI(fake_docker.host), socket_dir=sockdir, spec_dirs=())


def test_without_dockerd_locate_warns_and_finds_the_legacy_plugin(sockdir: Path) -> None:
    legacy = TagServer(sockdir / "acme.sock", b"legacy")
    try:
        target, warning = locate("acme", DockerAPI(f"unix://{sockdir}/gone.sock"),
                                 socket_dir=sockdir, spec_dirs=())
    finally:
        legacy.close()
    assert target.path == sockdir / "acme.sock"
    assert warning is not None and "cannot ask dockerd about managed plugins" in warning


# -- plugin build -----------------------------------------------------------------------------


def export_tar(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    """A container export as dockerd streams it: names without a leading ./ or /."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.LNKTYPE, target
            tar.addfile(info)
    return data.getvalue()


def members(archive: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {m.name: m for m in tar.getmembers()}


def read_member(archive: bytes, name: str) -> bytes:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        handle = tar.extractfile(name)
        assert handle is not None
        return handle.read()


MANIFEST = (REPO / "plugin" / "config.json").read_bytes()


def test_the_repositorys_manifest_is_a_managed_ipam_and_network_plugin() -> None:
    manifest = check_manifest(MANIFEST, "plugin/config.json")
    assert manifest["interface"] == {"types": ["docker.ipamdriver/1.0",
                                               "docker.networkdriver/1.0"],
                                     "socket": "ipamx.sock"}
    assert manifest["network"] == {"type": "host"}
    assert "CAP_NET_ADMIN" in manifest["linux"]["capabilities"]
    listen = manifest["entrypoint"][manifest["entrypoint"].index("--listen") + 1]
    assert listen == "/run/docker/plugins/ipamx.sock"
    assert bind_sources(manifest) == [Path("/var/lib/ipamx-spy/plugin")]


@pytest.mark.parametrize(("data", "message"), [
    (b"{}", "interface.types"), (b"nope", "interface.types"),
    (b'{"interface": {"types": ["docker.volumedriver/1.0"], "socket": "v.sock"}}', "none of"),
    (b'{"interface": {"types": ["docker.ipamdriver/1.0"], "socket": "a/b.sock"}}', "file name"),
])
def test_manifests_dockerd_could_not_use_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(BundleError, match=message):
        check_manifest(data, "m")


def test_the_archive_puts_the_image_under_rootfs_and_its_manifest_beside() -> None:
    export = export_tar({"bin/python3": b"\x7fELF", MANIFEST_IN_IMAGE: MANIFEST},
                        links={"bin/python": "bin/python3"})
    out = io.BytesIO()
    assert plugin_archive(io.BytesIO(export), out, None) == MANIFEST
    found = members(out.getvalue())
    assert set(found) == {"rootfs", "rootfs/bin/python3", "rootfs/bin/python",
                          f"rootfs/{MANIFEST_IN_IMAGE}", "config.json"}
    assert found["rootfs/bin/python"].linkname == "rootfs/bin/python3"
    assert read_member(out.getvalue(), "config.json") == MANIFEST
    assert read_member(out.getvalue(), "rootfs/bin/python3") == b"\x7fELF"


def test_an_explicit_manifest_wins_and_an_image_without_one_is_refused() -> None:
    export = export_tar({"bin/sh": b"sh"})
    out = io.BytesIO()
    assert plugin_archive(io.BytesIO(export), out, b'{"x": 1}') == b'{"x": 1}'
    assert read_member(out.getvalue(), "config.json") == b'{"x": 1}'
    with pytest.raises(BundleError, match="pass --config plugin/config.json"):
        plugin_archive(io.BytesIO(export), io.BytesIO(), None)


def test_build_exports_the_image_creates_and_enables_the_plugin(fake_docker: FakeDocker) -> None:
    fake_docker.export = export_tar({"etc/os-release": b"debian", MANIFEST_IN_IMAGE: MANIFEST})
    plugin = build_plugin(DockerAPI(fake_docker.host), image="ipamx-spy:latest", name="acme")
    assert (plugin.name, plugin.enabled) == ("acme:latest", True)
    assert fake_docker.calls == [
        ("POST", "/containers/create"), ("GET", "/containers/c0ffee/export"),
        ("DELETE", "/containers/c0ffee?force=1"), ("POST", "/plugins/create?name=acme"),
        ("POST", "/plugins/acme/enable?timeout=30"), ("GET", "/plugins")]
    upload = fake_docker.uploads["acme"]
    assert read_member(upload, "config.json") == MANIFEST
    assert read_member(upload, "rootfs/etc/os-release") == b"debian"


def test_build_removes_the_container_even_when_the_image_has_no_manifest(
        fake_docker: FakeDocker) -> None:
    fake_docker.export = export_tar({"bin/sh": b"sh"})
    with pytest.raises(BundleError):
        build_plugin(DockerAPI(fake_docker.host), image="busybox", name="acme")
    assert ("DELETE", "/containers/c0ffee?force=1") in fake_docker.calls
    assert not fake_docker.uploads


def test_an_export_that_is_not_a_tar_stream_is_reported(fake_docker: FakeDocker) -> None:
    fake_docker.export = b"this is not a tar stream" * 100
    with pytest.raises(BundleError, match="export of busybox is not a tar stream"):
        build_plugin(DockerAPI(fake_docker.host), image="busybox", name="acme")
    assert ("DELETE", "/containers/c0ffee?force=1") in fake_docker.calls
