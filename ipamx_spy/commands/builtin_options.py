"""Options shared by every command that runs the built-in plugin (proxy, serve), and building
the plugin from them (``ipamx_spy.builtin`` does the work; here the notes and the exit code)."""

from __future__ import annotations

from collections.abc import Callable

import typer

from ..app import BuiltinPlugin
from ..builtin import (
    FILE_STORE,
    AllocatorStore,
    PluginStartError,
    choose_compat,
    config_from_options,
    start_plugin,
)
from ..console import err
from ..ipam.config import Compat, compat_mode
from ..ipam.errors import ConfigError
from .errors import fail

STATE = typer.Option(
    "default", "--state",
    help="Allocator state file, 'none' to keep it in memory (dockerd then replays "
         "allocations after a restart), or 'default' for /var/lib/ipamx-spy/NAME.state.json.")
COMPAT = typer.Option(
    "27", "--docker-compat", "--compat",
    help="Which Docker's default IPAM to imitate, by version: 27 (first fit; also 28, 29), "
         "26 (Docker 24-26: round-robin pools, /31 and /32 usable) or 20.10 (Docker 23 and "
         "earlier); full versions such as 26.1.5 pick their mode; 'auto' asks dockerd "
         "($DOCKER_HOST or /var/run/docker.sock) for its version.")
LOCAL_SPACE = typer.Option("LocalDefault", help="Name of the local address space.")
GLOBAL_SPACE = typer.Option("GlobalDefault", help="Name of the global address space.")
LOCAL_POOL = typer.Option(
    [], "--local-pool",
    help="Predefined local pool, e.g. 10.10.0.0/16:24 (base:size; repeatable). Replaces "
         "Docker's list, like dockerd's default-address-pools.")
GLOBAL_POOL = typer.Option([], "--global-pool", help="Predefined global pool (repeatable).")
EXCLUDE = typer.Option(
    [], "--exclude",
    help="Prefix or IP that dynamic local pools must avoid (repeatable): dockerd does not send "
         "its host routes and nameservers to remote IPAMs.")
ENGINE_ID = typer.Option(
    None, "--engine-id",
    help="Seed of the IPv6 ULA prefix; dockerd's <data-root>/engine-id gives dockerd's own.")
ALLOW_SHUTDOWN = typer.Option(
    False, "--allow-shutdown",
    help="Serve IpamDriver.Shutdown (stops ipamx-spy). Off by default: dockerd never calls it, "
         "and anyone who can connect to the socket could.")


def parse_store(text: str | AllocatorStore) -> AllocatorStore:
    """``--store`` parsed once; a URL that names no store is a usage error (exit 2)."""
    if isinstance(text, AllocatorStore):
        return text
    try:
        return AllocatorStore.parse(text)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc).removeprefix("--store "),
                                 param_hint="--store") from None


STORE = typer.Option(
    "file", "--store", envvar="IPAMX_SPY_STORE", parser=parse_store, metavar="file|URL",
    help="Where the allocator keeps its data: 'file' (--state, this host only) or "
         "etcd://HOST:PORT[,HOST:PORT...] (a cluster shared by hosts; the global address "
         "space is shared, the local one stays per host); etcds://HOST:PORT... for TLS, with "
         "?ca=FILE&cert=FILE&key=FILE.")
HOST_ID = typer.Option(
    None, "--host-id", envvar="IPAMX_SPY_HOST_ID",
    help="This host's name in a shared --store [default: the hostname].")
STATE_GROUP = typer.Option(
    None, "--group", metavar="NAME",
    help="Group that may read the new state files (mode 0640) [default: only you, mode 0600].")
RECORD_AND_STATE_GROUP = typer.Option(
    None, "--group", metavar="NAME",
    help="Group that may read the new recording and state files (mode 0640) "
         "[default: only you, mode 0600].")
NETWORK_DRIVER = typer.Option(
    False, "--network-driver/--no-network-driver",
    help="Also serve the built-in bridge-and-veth network driver.")


def resolve_compat(compat: str) -> Compat:
    """``--docker-compat`` as the allocator mode, saying on stderr what ``auto`` found; a
    value that names no Docker version exits 2."""
    choice = choose_compat(compat)
    if choice.warning:
        err.print(f"[yellow]ipamx-spy: {choice.note}[/]")
    elif choice.note:
        err.print(f"ipamx-spy: {choice.note}")
    try:
        return compat_mode(choice.mode)
    except ConfigError as exc:
        fail(f"--docker-compat: {exc}")


def build(*, name: str, state: str, compat: str, local_space: str, global_space: str,
          network_driver: bool, on_shutdown: Callable[[], None] | None,
          local_pool: list[str] | None = None, global_pool: list[str] | None = None,
          exclude: list[str] | None = None, engine_id: str | None = None,
          store: AllocatorStore = FILE_STORE, host_id: str | None = None,
          group: str | None = None) -> BuiltinPlugin:
    """The built-in plugin for these options; exits with code 2 on a bad setting."""
    config = config_from_options(
        name=name, state=state, compat=resolve_compat(compat), local_space=local_space,
        global_space=global_space, network_driver=network_driver,
        local_pools=local_pool or (), global_pools=global_pool or (), exclude=exclude or (),
        engine_id=engine_id, store=store, host_id=host_id, group=group)
    try:
        return start_plugin(config, on_shutdown=on_shutdown)
    except PluginStartError as exc:
        fail(str(exc))
