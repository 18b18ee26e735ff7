"""``ipamx-spy plugin build``: the ipamx-spy image as a Docker managed plugin."""

from __future__ import annotations

from pathlib import Path

import typer

from ..attach.bundle import BundleError, build_plugin
from ..attach.docker import DockerAPI, DockerError, docker_host
from ..console import err, out


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="ipamx-spy as a Docker managed plugin.", no_args_is_help=True)
    app.add_typer(group, name="plugin")

    @group.command("build")
    def build(
        name: str = typer.Option("ipamx", "--name", "-n",
                                 help="Plugin name: -d NAME and --ipam-driver NAME use it."),
        image: str = typer.Option("ipamx-spy:latest", help="Image built from the Dockerfile."),
        config: Path | None = typer.Option(
            None, help="Plugin config.json [default: the one in the image, from plugin/]."),
        docker_host_option: str | None = typer.Option(
            None, "--docker-host", "-H",
            help="dockerd's API [default: $DOCKER_HOST or unix:///var/run/docker.sock]."),
        enable: bool = typer.Option(True, "--enable/--no-enable",
                                    help="Enable the plugin once created."),
        replace: bool = typer.Option(False, "--replace",
                                     help="Remove an existing plugin of that name first."),
        enable_timeout: int = typer.Option(30, help="Seconds dockerd waits for the plugin."),
    ) -> None:
        """Create (and enable) a managed plugin from the ipamx-spy image."""
        try:
            manifest = None if config is None else config.read_bytes()
            host = docker_host(docker_host_option)
            plugin = build_plugin(DockerAPI(host), image=image, name=name, config=manifest,
                                  replace=replace, enable=enable, enable_timeout=enable_timeout,
                                  make_sources=host.startswith("unix://"))
        except (DockerError, BundleError, OSError) as exc:
            err.print(f"[red]ipamx-spy: plugin build: {exc}[/]")
            raise typer.Exit(2) from exc
        state = "enabled" if plugin.enabled else "disabled (docker plugin enable " + \
            f"{plugin.name})"
        err.print(f"ipamx-spy: plugin [cyan]{plugin.name}[/] ({', '.join(plugin.types)}) "
                  f"created from {image}, {state}")
        err.print(f"  socket: {plugin.socket_path()}")
        out.print(plugin.id, highlight=False)
