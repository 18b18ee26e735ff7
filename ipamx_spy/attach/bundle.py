"""``ipamx-spy plugin build``: turn the ipamx-spy image into a Docker managed plugin.

dockerd makes a managed plugin from an archive holding ``config.json`` (the manifest) and
``rootfs/`` (the plugin's filesystem): ``POST /plugins/create``, as ``docker plugin create``
does. The root filesystem is the image's, exported from a container that is created and never
started. The manifest is ``plugin/config.json``, which the Dockerfile copies into the image, so
the image and its manifest always match; ``--config`` overrides it. (It lives next to ``docker``
because it is made of the same Docker Engine API calls.)
"""

from __future__ import annotations

import io
import json
import tarfile
import tempfile
from pathlib import Path
from typing import IO, Any

from .docker import DockerAPI, ManagedPlugin, find_managed, quote

MANIFEST_IN_IMAGE = "usr/share/ipamx-spy/plugin/config.json"
NEEDED_TYPES = ("docker.ipamdriver/1.0", "docker.networkdriver/1.0")


class BundleError(ValueError):
    """The image or the manifest cannot make a plugin; the message says which and why."""


def check_manifest(data: bytes, source: str) -> dict[str, Any]:
    """The manifest, parsed. Raises BundleError if dockerd could not use it as a plugin."""
    try:
        manifest = json.loads(data)
        interface = manifest["interface"]
        types, socket_name = interface["types"], interface["socket"]
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleError(f"{source}: not a plugin config.json with interface.types and "
                          f"interface.socket ({exc!r})") from exc
    if not socket_name or "/" in socket_name:
        raise BundleError(f"{source}: interface.socket must be a file name, not {socket_name!r}")
    if not set(types) & set(NEEDED_TYPES):
        raise BundleError(f"{source}: interface.types {types} has none of {NEEDED_TYPES}")
    return dict(manifest)


def _entry(name: str, kind: bytes, size: int = 0, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.mode = kind, size, mode
    return info


def _inside(name: str) -> str:
    return "rootfs/" + name.removeprefix("./").lstrip("/")


def plugin_archive(export: IO[bytes], out: IO[bytes], config: bytes | None) -> bytes:
    """Write dockerd's plugin archive from a container export; returns the manifest used.

    ``config`` None takes the manifest from the image (MANIFEST_IN_IMAGE). Raises BundleError
    when there is none, tarfile.TarError for an export that is not a tar stream.
    """
    manifest = config
    with tarfile.open(fileobj=export, mode="r|") as source, \
            tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as archive:
        archive.addfile(_entry("rootfs", tarfile.DIRTYPE, mode=0o755))
        for member in source:
            data: IO[bytes] | None = source.extractfile(member) if member.isreg() else None
            if data is not None and config is None and \
                    member.name.removeprefix("./") == MANIFEST_IN_IMAGE:
                manifest = data.read()
                data = io.BytesIO(manifest)
            member.name = _inside(member.name)
            if member.islnk():
                member.linkname = _inside(member.linkname)
            archive.addfile(member, data)
        if manifest is None:
            raise BundleError(f"the image has no /{MANIFEST_IN_IMAGE} (was it built from "
                              "ipamx-spy's Dockerfile?): pass --config plugin/config.json")
        archive.addfile(_entry("config.json", tarfile.REGTYPE, len(manifest)),
                        io.BytesIO(manifest))
    return manifest


def _export(api: DockerAPI, image: str, out: IO[bytes], config: bytes | None) -> bytes:
    created = api.json("POST", "/containers/create",
                       {"Image": image, "Cmd": ["true"], "Labels": {"ipamx-spy": "plugin build"}})
    container = quote(created["Id"])
    try:
        with api.call("GET", f"/containers/{container}/export") as stream:
            return plugin_archive(stream, out, config)
    except tarfile.TarError as exc:
        raise BundleError(f"dockerd's export of {image} is not a tar stream: {exc}") from exc
    finally:
        api.json("DELETE", f"/containers/{container}?force=1")


def bind_sources(manifest: dict[str, Any]) -> list[Path]:
    """The host directories the manifest's bind mounts need (runc refuses a missing one)."""
    return [Path(m["source"]) for m in manifest.get("mounts") or ()
            if m.get("type") == "bind" and str(m.get("source", "")).startswith("/")]


def build_plugin(api: DockerAPI, *, image: str, name: str, config: bytes | None = None,
                 replace: bool = False, enable: bool = True, make_sources: bool = False,
                 enable_timeout: int = 30) -> ManagedPlugin:
    """Create managed plugin ``name`` from ``image`` (and enable it).

    ``make_sources``: create the bind-mount sources (only when dockerd runs on this machine).
    Raises DockerError (dockerd refused: an existing plugin without ``replace``, an unknown
    image, a missing mount source), BundleError, OSError (a source cannot be created).
    """
    if config is not None:
        check_manifest(config, "--config")
    if replace and find_managed(api, name) is not None:
        api.json("DELETE", f"/plugins/{quote(name)}?force=1")
    with tempfile.TemporaryFile() as archive:
        manifest = _export(api, image, archive, config)
        parsed = check_manifest(manifest, "--config" if config else f"{image}:/{MANIFEST_IN_IMAGE}")
        for source in bind_sources(parsed) if make_sources and enable else ():
            source.mkdir(parents=True, exist_ok=True)
        size = archive.tell()
        archive.seek(0)
        headers = {"Content-Type": "application/x-tar", "Content-Length": str(size)}
        with api.call("POST", f"/plugins/create?name={quote(name)}", body=archive,
                      headers=headers) as response:
            response.read()
    if enable:
        api.json("POST", f"/plugins/{quote(name)}/enable?timeout={enable_timeout}")
    plugin = find_managed(api, name)
    if plugin is None:
        raise BundleError(f"dockerd accepted plugin {name} but does not list it")
    return plugin
