"""The emulated dockerd: one flow per docker command, and what the docker CLI prints.

``Daemon.play(step)`` is a generator: it yields ``Call``s, receives ``CallAnswer``s and returns a
``CommandOutcome`` (the CLI's stdout and stderr lines and its exit code). Drive it with
``ipamx_spy.emulator.driver`` or, in tests, with any function that answers calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .containers import ContainerOps
from .core import CliError, DaemonError, Flow
from .model import Attachment, Container
from .networks import NetworkOps
from .scenario import (
    ContainerOp,
    NetworkConnect,
    NetworkCreate,
    NetworkDisconnect,
    NetworkRemove,
    Pause,
    RestartDaemon,
    RunContainer,
    Step,
)

ADJECTIVES = ("admiring", "brave", "clever", "dreamy", "eager", "focused", "gifted", "happy")
SCIENTISTS = ("albattani", "bell", "curie", "darwin", "euclid", "fermi", "galileo", "hopper")
RUN_HELP = "Run 'docker run --help' for more information"
DEFAULT_BRIDGE = NetworkCreate(name="bridge", subnets=("172.17.0.0/16",))


@dataclass(frozen=True, kw_only=True)
class CommandOutcome:
    """What the docker command printed, and how it exited."""

    stdout: tuple[str, ...] = ()
    stderr: tuple[str, ...] = ()
    exit_code: int = 0

    @property
    def failed(self) -> bool:
        return self.exit_code != 0


def _daemon_error(exc: Exception) -> str:
    return str(exc) if isinstance(exc, CliError) else f"Error response from daemon: {exc}"


class Daemon(NetworkOps, ContainerOps):
    """dockerd's network behaviour for the commands of a scenario."""

    def play(self, step: Step) -> Flow[CommandOutcome]:
        handler = _HANDLERS[type(step.action)]
        return (yield from handler(self, step.action))

    # -- networks --------------------------------------------------------------------------

    def _network_create(self, cmd: NetworkCreate) -> Flow[CommandOutcome]:
        try:
            network_id = yield from self.network_create(cmd)
        except (DaemonError, CliError) as exc:
            return CommandOutcome(stderr=(_daemon_error(exc),), exit_code=1)
        return CommandOutcome(stdout=(network_id,))

    def _network_remove(self, cmd: NetworkRemove) -> Flow[CommandOutcome]:
        out: list[str] = []
        errors: list[str] = []
        for name in cmd.names:
            try:
                yield from self.network_remove(name)
                out.append(name)
            except DaemonError as exc:
                errors.append(_daemon_error(exc))
        return CommandOutcome(stdout=tuple(out), stderr=tuple(errors), exit_code=1 if errors else 0)

    def _network_connect(self, cmd: NetworkConnect) -> Flow[CommandOutcome]:
        try:
            ctr = self._container(cmd.container)
            net = self._network(cmd.network)
            if any(a.network == net.name for a in ctr.attachments):
                raise DaemonError(f"endpoint with name {ctr.name} already exists in network "
                                  f"{net.name}")
            attachment = Attachment(network=net.name, ip=cmd.ip, ip6=cmd.ip6,
                                    driver_opts=cmd.driver_opts)
            if ctr.running:
                yield from self.connect_endpoint(ctr, attachment)
            ctr.attachments.append(attachment)
        except DaemonError as exc:
            return CommandOutcome(stderr=(_daemon_error(exc),), exit_code=1)
        return CommandOutcome()

    def _network_disconnect(self, cmd: NetworkDisconnect) -> Flow[CommandOutcome]:
        try:
            ctr = self._container(cmd.container)
            net = self._network(cmd.network)
            attachment = next((a for a in ctr.attachments if a.network == net.name), None)
            if attachment is None:
                raise DaemonError(f"container {ctr.id} is not connected to network {net.name}")
            if ctr.running:
                yield from self.disconnect(ctr, net)
            ctr.attachments.remove(attachment)
        except DaemonError as exc:
            return CommandOutcome(stderr=(_daemon_error(exc),), exit_code=1)
        return CommandOutcome()

    # -- containers ------------------------------------------------------------------------

    def _container(self, name: str) -> Container:
        ctr = self.containers.get(name)
        if ctr is None:
            raise DaemonError(f"No such container: {name}")
        return ctr

    def _random_name(self) -> str:
        while True:
            name = f"{self.rng.choice(ADJECTIVES)}_{self.rng.choice(SCIENTISTS)}"
            if name not in self.containers:
                return name

    def _run(self, cmd: RunContainer) -> Flow[CommandOutcome]:
        name = cmd.name or self._random_name()
        if name in self.containers:
            message = (f'Conflict. The container name "/{name}" is already in use by container '
                       f'"{self.containers[name].id}". You have to remove (or rename) that '
                       "container to be able to reuse that name.")
            return self._run_failed((), DaemonError(message), cmd.start)
        network = cmd.network or "bridge"
        if network == "bridge" and network not in self.networks:
            yield from self.network_create(DEFAULT_BRIDGE)
        if network not in self.networks and network not in {"host", "none"}:
            return self._run_failed((), DaemonError(f"network {network} not found"), cmd.start)
        ctr = Container(id=self.local.take("container"), name=name,
                        attachments=[Attachment(network=network, ip=cmd.ip, ip6=cmd.ip6)],
                        ports=cmd.ports, mac=cmd.mac, dns=cmd.dns, run_network=network)
        self.containers[name] = ctr
        printed = (ctr.id,) if cmd.detach or not cmd.start else ()
        if not cmd.start:
            return CommandOutcome(stdout=printed)
        try:
            yield from self.start(ctr)
        except DaemonError as exc:
            return self._run_failed(printed, exc, True)
        if not cmd.detach:  # a foreground container runs its command to the end
            yield from self.stop(ctr)
        return CommandOutcome(stdout=printed)

    @staticmethod
    def _run_failed(printed: tuple[str, ...], exc: Exception, run: bool) -> CommandOutcome:
        if not run:
            return CommandOutcome(stderr=(_daemon_error(exc),), exit_code=1)
        return CommandOutcome(stdout=printed,
                              stderr=(f"docker: {_daemon_error(exc)}", "", RUN_HELP), exit_code=125)

    def start(self, ctr: Container) -> Flow[None]:
        """Connect every network of a container; a failure undoes what was connected."""
        if ctr.running:
            return
        try:
            for attachment in ctr.attachments:
                if attachment.network in self.networks:
                    yield from self.connect_endpoint(ctr, attachment)
        except DaemonError:
            yield from self.release_network(ctr)
            raise
        ctr.running = True

    def stop(self, ctr: Container) -> Flow[None]:
        if ctr.running:
            yield from self.release_network(ctr)
            ctr.running = False

    def _container_op(self, cmd: ContainerOp) -> Flow[CommandOutcome]:
        out: list[str] = []
        errors: list[str] = []
        for name in cmd.names:
            try:
                yield from _VERBS[cmd.verb](self, self._container(name), cmd.force)
                out.append(name)
            except DaemonError as exc:
                errors.append(_daemon_error(exc))
        if errors and cmd.verb in {"start", "restart"}:
            failed = [n for n in cmd.names if n not in out]
            errors.append(f"Error: failed to {cmd.verb} containers: {', '.join(failed)}")
        return CommandOutcome(stdout=tuple(out), stderr=tuple(errors), exit_code=1 if errors else 0)

    def _start(self, ctr: Container, _force: bool) -> Flow[None]:
        yield from self.start(ctr)

    def _stop(self, ctr: Container, _force: bool) -> Flow[None]:
        yield from self.stop(ctr)

    def _restart(self, ctr: Container, _force: bool) -> Flow[None]:
        yield from self.stop(ctr)
        yield from self.start(ctr)

    def _remove(self, ctr: Container, force: bool) -> Flow[None]:
        if ctr.running and not force:
            raise DaemonError(f"You cannot remove a running container {ctr.id}. Stop the "
                              "container before attempting removal or force remove")
        yield from self.stop(ctr)
        del self.containers[ctr.name]

    # -- the daemon ------------------------------------------------------------------------

    def _restart_daemon(self, _cmd: RestartDaemon) -> Flow[CommandOutcome]:
        """Shutdown stops the running containers; start replays IPAM state (PROTOCOL.md 5.7)."""
        for ctr in self.containers.values():
            yield from self.stop(ctr)
        self.plugins = {}
        yield from self.replay_pools()
        return CommandOutcome()

    def _pause(self, _cmd: Pause) -> Flow[CommandOutcome]:
        return CommandOutcome()
        yield  # a flow that makes no call


Handler = Callable[[Daemon, Any], Flow[CommandOutcome]]
_HANDLERS: dict[type, Handler] = {
    NetworkCreate: Daemon._network_create,
    NetworkRemove: Daemon._network_remove,
    NetworkConnect: Daemon._network_connect,
    NetworkDisconnect: Daemon._network_disconnect,
    RunContainer: Daemon._run,
    ContainerOp: Daemon._container_op,
    RestartDaemon: Daemon._restart_daemon,
    Pause: Daemon._pause,
}
_VERBS: dict[str, Callable[[Daemon, Container, bool], Flow[None]]] = {
    "start": Daemon._start,
    "stop": Daemon._stop,
    "restart": Daemon._restart,
    "rm": Daemon._remove,
}
