"""Scenario files: docker commands, one per line, parsed into the steps the emulator plays.

The format is a tiny shell script, so that the same file can also be run against a real
dockerd to make the capture it is compared with::

    # the talk: an IPAM plugin behind the bridge driver
    docker network create --ipam-driver ipamx --subnet 10.4.4.0/24 talknet
    docker run -d --name c1 --net talknet --ip 10.4.4.21 bb sleep 1000
    ! docker network rm talknet          # "!" : this command is expected to fail
    systemctl restart docker             # a daemon restart (also: service docker restart)

Blank lines and ``#`` comments are skipped, a trailing ``\\`` continues a line; ``sleep N``
and read-only commands (``docker exec``, ``ps``, ``inspect``, ``logs``, ``network ls``...) are
accepted and reach no plugin. Commands: ``docker network create|rm|connect|disconnect``, ``docker
run|create|start|stop|kill|restart|rm`` (``docker container ...`` too), with the options that
matter to networking; other options of ``run`` that do not (``-e``, ``-v``, ...) are accepted
and ignored, anything else is a ``ScenarioError`` naming the line.

Swarm scenarios name the daemon a command runs on with the docker CLI's own ``--context NAME``
(``-c NAME``), so that the file runs against real nodes with one docker context per node::

    docker --context node1 plugin enable ipamx:latest
    docker --context node1 swarm init --advertise-addr 198.18.0.1
    docker --context node2 swarm join --token TOKEN 198.18.0.1:2377
    docker --context node1 network create -d overlay --ipam-driver ipamx:latest \\
        --subnet 10.4.4.0/24 ov
    docker --context node1 service create --name s --replicas 3 --network ov bb sleep 600
    docker --context node1 service rm s
    sleep 10                             # the removed service's tasks stop while this waits

A line without ``--context`` runs on the first daemon the scenario names (``default`` when it
names none). ``docker plugin enable|disable``, ``docker swarm init|join|leave`` and ``docker service
create|rm`` are understood besides the commands above.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

PROTOCOLS = {"tcp": 6, "udp": 17, "sctp": 132}


class ScenarioError(ValueError):
    """A scenario line the emulator cannot play; the message names the file and line."""


@dataclass(frozen=True, kw_only=True)
class Port:
    proto: int
    port: int
    host_ip: str = ""
    host_port: int = 0
    host_port_end: int = 0
    published: bool = True


@dataclass(frozen=True, kw_only=True)
class NetworkCreate:
    name: str
    driver: str = "bridge"
    ipam_driver: str = "default"
    subnets: tuple[str, ...] = ()
    ranges: tuple[str, ...] = ()
    gateways: tuple[str, ...] = ()
    aux: tuple[tuple[str, str], ...] = ()
    ipam_opts: tuple[tuple[str, str], ...] = ()
    opts: tuple[tuple[str, str], ...] = ()
    ipv6: bool = False
    ipv4: bool = True
    internal: bool = False
    scope: str = ""


@dataclass(frozen=True, kw_only=True)
class NetworkRemove:
    names: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class NetworkConnect:
    network: str
    container: str
    ip: str = ""
    ip6: str = ""
    driver_opts: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, kw_only=True)
class NetworkDisconnect:
    network: str
    container: str


@dataclass(frozen=True, kw_only=True)
class RunContainer:
    name: str = ""
    network: str = ""
    ip: str = ""
    ip6: str = ""
    ports: tuple[Port, ...] = ()
    mac: str = ""
    dns: tuple[str, ...] = ()
    detach: bool = False
    start: bool = True  # False for ``docker create``


@dataclass(frozen=True, kw_only=True)
class ContainerOp:
    verb: str  # start, stop, restart, rm
    names: tuple[str, ...]
    force: bool = False


@dataclass(frozen=True, kw_only=True)
class RestartDaemon:
    pass


@dataclass(frozen=True, kw_only=True)
class Pause:
    """A line that reaches no plugin; ``waits`` for ``sleep``, during which what dockerd does
    on its own (a removed service's tasks stopping) happens."""

    waits: bool = False


@dataclass(frozen=True, kw_only=True)
class PluginEnable:
    """``docker plugin enable``: a managed plugin, registered for its interfaces at once."""

    name: str


@dataclass(frozen=True, kw_only=True)
class PluginDisable:
    name: str
    force: bool = False


@dataclass(frozen=True, kw_only=True)
class SwarmInit:
    advertise: str = ""  # --advertise-addr as given ("": not given)


@dataclass(frozen=True, kw_only=True)
class SwarmJoin:
    manager: str
    advertise: str = ""  # --advertise-addr as given ("": not given)


@dataclass(frozen=True, kw_only=True)
class SwarmLeave:
    force: bool = False  # --force (a manager cannot leave without it)


@dataclass(frozen=True, kw_only=True)
class ServiceCreate:
    name: str
    networks: tuple[str, ...] = ()
    replicas: int = 1
    max_per_node: int = 0  # 0: no limit
    global_mode: bool = False  # ``--mode global``: one task on every node
    dnsrr: bool = False  # ``--endpoint-mode dnsrr``: no virtual IP


@dataclass(frozen=True, kw_only=True)
class ServiceRemove:
    names: tuple[str, ...]


Action = (NetworkCreate | NetworkRemove | NetworkConnect | NetworkDisconnect | RunContainer
          | ContainerOp | RestartDaemon | Pause | PluginEnable | PluginDisable | SwarmInit
          | SwarmJoin | SwarmLeave | ServiceCreate | ServiceRemove)
SWARM_ACTIONS = (PluginEnable, PluginDisable, SwarmInit, SwarmJoin, SwarmLeave, ServiceCreate,
                 ServiceRemove)
"""Actions only a swarm of emulated daemons (``emulator.swarm``) plays."""


@dataclass(frozen=True, kw_only=True)
class Step:
    line: int
    text: str
    action: Action
    expect_failure: bool = False
    node: str = ""  # the docker context the line names; "" for the first daemon


# -- option parsing ---------------------------------------------------------------------------
# kind: "value", "list", "flag", "skip" (an ignored option with a value), "noop" (ignored flag)

Spec = dict[str, tuple[str, str]]

_RUN: Spec = {
    "-d": ("detach", "flag"), "--detach": ("detach", "flag"), "--name": ("name", "value"),
    "--net": ("network", "value"), "--network": ("network", "value"), "--ip": ("ip", "value"),
    "--ip6": ("ip6", "value"), "-p": ("publish", "list"), "--publish": ("publish", "list"),
    "--expose": ("expose", "list"), "--mac-address": ("mac", "value"), "--dns": ("dns", "list"),
    **{o: ("", "noop") for o in ("--rm", "-i", "--interactive", "-t", "--tty", "--init",
                                 "--privileged", "--read-only")},
    **{o: ("", "skip") for o in (
        "-e", "--env", "--env-file", "-v", "--volume", "-w", "--workdir", "--entrypoint", "-u",
        "--user", "-l", "--label", "--label-file", "--restart", "-h", "--hostname", "--cap-add",
        "--cap-drop", "-m", "--memory", "--cpus", "--stop-timeout", "--stop-signal",
        "--log-driver", "--log-opt", "--add-host", "--network-alias", "--platform", "--pull",
        "--shm-size", "--ulimit", "--sysctl", "--tmpfs", "--mount", "--device",
        "--security-opt", "--cidfile")},
}
_NETWORK_CREATE: Spec = {
    "-d": ("driver", "value"), "--driver": ("driver", "value"),
    "--ipam-driver": ("ipam_driver", "value"), "--subnet": ("subnets", "list"),
    "--ip-range": ("ranges", "list"), "--gateway": ("gateways", "list"),
    "--aux-address": ("aux", "list"), "--ipam-opt": ("ipam_opts", "list"),
    "-o": ("opts", "list"), "--opt": ("opts", "list"), "--ipv6": ("ipv6", "flag"),
    "--ipv4": ("ipv4", "flag"), "--internal": ("internal", "flag"), "--scope": ("scope", "value"),
    "--attachable": ("", "noop"), "--label": ("", "skip"),
}
_CONNECT: Spec = {"--ip": ("ip", "value"), "--ip6": ("ip6", "value"),
                  "--driver-opt": ("driver_opts", "list"), "--alias": ("", "skip"),
                  "--link": ("", "skip"), "--link-local-ip": ("", "skip")}
_DISCONNECT: Spec = {"-f": ("", "noop"), "--force": ("", "noop")}
_NAMES: Spec = {"-t": ("", "skip"), "--time": ("", "skip"), "-s": ("", "skip"),
                "--signal": ("", "skip"), "-a": ("", "noop"), "--attach": ("", "noop"),
                "-i": ("", "noop"), "--interactive": ("", "noop")}
_RM: Spec = {"-f": ("force", "flag"), "--force": ("force", "flag"), "-v": ("", "noop"),
             "--volumes": ("", "noop")}
_GLOBAL: Spec = {"-c": ("context", "value"), "--context": ("context", "value")}
_SWARM_INIT: Spec = {"--advertise-addr": ("advertise", "value")} | {o: ("", "skip") for o in (
    "--listen-addr", "--data-path-addr", "--data-path-port",
    "--default-addr-pool", "--default-addr-pool-mask-length", "--availability",
    "--cert-expiry", "--dispatcher-heartbeat", "--task-history-limit", "--max-snapshots",
    "--snapshot-interval")} | {"--autolock": ("", "noop"), "--force-new-cluster": ("", "noop")}
_SWARM_JOIN: Spec = {"--advertise-addr": ("advertise", "value")} | {o: ("", "skip") for o in (
    "--token", "--listen-addr", "--data-path-addr", "--availability")}
_SWARM_LEAVE: Spec = {"-f": ("force", "flag"), "--force": ("force", "flag")}
_SERVICE_CREATE: Spec = {
    "--name": ("name", "value"), "--replicas": ("replicas", "value"),
    "--replicas-max-per-node": ("max_per_node", "value"), "--network": ("networks", "list"),
    "--mode": ("mode", "value"), "--endpoint-mode": ("endpoint_mode", "value"),
    "-d": ("", "noop"), "--detach": ("", "noop"), "-q": ("", "noop"), "--quiet": ("", "noop"),
    **{o: ("", "skip") for o in (
        "-e", "--env", "-l", "--label", "--container-label", "--constraint",
        "--stop-grace-period", "--stop-signal", "-w", "--workdir", "-u", "--user",
        "--hostname", "--entrypoint", "--mount", "--restart-condition", "--restart-delay",
        "--restart-max-attempts", "--update-parallelism", "--update-delay", "--limit-cpu",
        "--limit-memory", "--reserve-cpu", "--reserve-memory", "--health-cmd")},
}


def _split_short(arg: str, spec: Spec) -> list[str]:
    """``-dit`` -> ``-d -i -t`` when every letter is a known flag; ``-p80:80`` -> ``-p 80:80``."""
    if arg.startswith("--") or len(arg) <= 2 or "=" in arg:
        return [arg]
    letters = [f"-{c}" for c in arg[1:]]
    if all(spec.get(f, ("", ""))[1] in {"flag", "noop"} for f in letters):
        return letters
    if spec.get(arg[:2], ("", ""))[1] in {"value", "list", "skip"}:
        return [arg[:2], arg[2:]]
    return [arg]


def _flag_value(option: str, raw: str | None) -> bool:
    if raw is None or raw.lower() == "true":
        return True
    if raw.lower() == "false":
        return False
    raise ScenarioError(f"{option} takes true or false, not {raw!r}")


def parse_options(args: list[str], spec: Spec, *, stop_at_positional: bool = False,
                  ) -> tuple[dict[str, object], list[str]]:
    """Options into ``{field: value or list}``, plus the positional arguments."""
    values: dict[str, object] = {}
    positional: list[str] = []
    queue = [part for arg in args for part in _split_short(arg, spec)]
    while queue:
        arg = queue.pop(0)
        if arg == "--":
            positional += queue
            break
        if not arg.startswith("-") or arg == "-":
            positional.append(arg)
            if stop_at_positional:
                positional += queue
                break
            continue
        option, eq, inline = arg.partition("=")
        if option not in spec:
            raise ScenarioError(f"unsupported option {option}")
        dest, kind = spec[option]
        if kind in {"flag", "noop"}:
            if kind == "flag":
                values[dest] = _flag_value(option, inline if eq else None)
            continue
        if not eq and not queue:
            raise ScenarioError(f"option {option} needs a value")
        value = inline if eq else queue.pop(0)
        if kind == "value":
            values[dest] = value
        elif kind == "list":
            values.setdefault(dest, [])
            values[dest].append(value)  # type: ignore[attr-defined]
    return values, positional


def _pairs(items: object, what: str) -> tuple[tuple[str, str], ...]:
    out = []
    for item in items or []:  # type: ignore[attr-defined]
        key, eq, value = str(item).partition("=")
        if not eq or not key:
            raise ScenarioError(f"{what} {item!r} is not KEY=VALUE")
        out.append((key, value))
    return tuple(out)


def _strings(items: object) -> tuple[str, ...]:
    return tuple(str(i) for i in items or [])  # type: ignore[attr-defined]


# -- ports --------------------------------------------------------------------------------


def _proto(text: str) -> tuple[str, int]:
    port, _, proto = text.partition("/")
    number = PROTOCOLS.get(proto or "tcp")
    if number is None:
        raise ScenarioError(f"unknown protocol {proto!r} in {text!r}")
    return port, number


def parse_publish(text: str) -> Port:
    """``[ip:][hostPort:]containerPort[/proto]`` (one port, no ranges)."""
    head, number = _proto(text)
    parts = head.rsplit(":", 2)
    container = parts[-1]
    host = parts[-2] if len(parts) >= 2 else ""
    host_ip = parts[-3].strip("[]") if len(parts) == 3 else ""
    if not container.isdigit() or (host and not host.isdigit()):
        raise ScenarioError(f"cannot parse published port {text!r}")
    host_port = int(host) if host else 0
    return Port(proto=number, port=int(container), host_ip=host_ip, host_port=host_port,
                host_port_end=host_port)


def parse_expose(text: str) -> Port:
    head, number = _proto(text)
    if not head.isdigit():
        raise ScenarioError(f"cannot parse exposed port {text!r}")
    return Port(proto=number, port=int(head), published=False)


def _ports(values: dict[str, object]) -> tuple[Port, ...]:
    published = [parse_publish(p) for p in _strings(values.get("publish"))]
    exposed = [parse_expose(p) for p in _strings(values.get("expose"))]
    known = {(p.port, p.proto) for p in published}
    exposed = [p for p in exposed if (p.port, p.proto) not in known]
    return tuple(sorted(published + exposed, key=lambda p: (p.port, p.proto)))


# -- commands -----------------------------------------------------------------------------


def _network(args: list[str]) -> Action:
    if not args:
        raise ScenarioError("docker network needs a subcommand")
    verb, rest = args[0], args[1:]
    if verb == "create":
        values, names = parse_options(rest, _NETWORK_CREATE)
        if len(names) != 1:
            raise ScenarioError("docker network create takes exactly one network name")
        return NetworkCreate(
            name=names[0], driver=str(values.get("driver", "bridge")),
            ipam_driver=str(values.get("ipam_driver", "default")),
            subnets=_strings(values.get("subnets")), ranges=_strings(values.get("ranges")),
            gateways=_strings(values.get("gateways")),
            aux=_pairs(values.get("aux"), "--aux-address"),
            ipam_opts=_pairs(values.get("ipam_opts"), "--ipam-opt"),
            opts=_pairs(values.get("opts"), "--opt"), ipv6=bool(values.get("ipv6", False)),
            ipv4=bool(values.get("ipv4", True)), internal=bool(values.get("internal", False)),
            scope=str(values.get("scope", "")))
    if verb in {"rm", "remove"}:
        _, names = parse_options(rest, {"-f": ("", "noop"), "--force": ("", "noop")})
        return NetworkRemove(names=tuple(names))
    if verb in {"connect", "disconnect"}:
        values, names = parse_options(rest, _CONNECT if verb == "connect" else _DISCONNECT)
        if len(names) != 2:
            raise ScenarioError(f"docker network {verb} takes NETWORK CONTAINER")
        if verb == "disconnect":
            return NetworkDisconnect(network=names[0], container=names[1])
        return NetworkConnect(network=names[0], container=names[1],
                              ip=str(values.get("ip", "")), ip6=str(values.get("ip6", "")),
                              driver_opts=_pairs(values.get("driver_opts"), "--driver-opt"))
    raise ScenarioError(f"docker network {verb} is not supported")


def _run(args: list[str], start: bool) -> Action:
    values, rest = parse_options(args, _RUN, stop_at_positional=True)
    if not rest:
        raise ScenarioError("docker run needs an image")
    return RunContainer(
        name=str(values.get("name", "")), network=str(values.get("network", "")),
        ip=str(values.get("ip", "")), ip6=str(values.get("ip6", "")), ports=_ports(values),
        mac=str(values.get("mac", "")), dns=_strings(values.get("dns")),
        detach=bool(values.get("detach", False)), start=start)


def _container(verb: str, args: list[str]) -> Action:
    if verb in {"run", "create"}:
        return _run(args, start=verb == "run")
    values, names = parse_options(args, _RM if verb == "rm" else _NAMES)
    if not names:
        raise ScenarioError(f"docker {verb} needs a container name")
    canonical = {"kill": "stop"}.get(verb, verb)
    return ContainerOp(verb=canonical, names=tuple(names), force=bool(values.get("force")))


def _count(option: str, raw: object, default: int) -> int:
    if raw is None:
        return default
    if not str(raw).isdigit():
        raise ScenarioError(f"{option} takes a number, not {raw!r}")
    return int(str(raw))


def _service(args: list[str]) -> Action:
    if not args:
        raise ScenarioError("docker service needs a subcommand")
    verb, rest = args[0], args[1:]
    if verb == "create":
        values, positional = parse_options(rest, _SERVICE_CREATE, stop_at_positional=True)
        if not positional:
            raise ScenarioError("docker service create needs an image")
        mode = str(values.get("mode", "replicated"))
        endpoint_mode = str(values.get("endpoint_mode", "vip"))
        if mode not in {"replicated", "global"} or endpoint_mode not in {"vip", "dnsrr"}:
            raise ScenarioError(f"unsupported service mode {mode}/{endpoint_mode}")
        return ServiceCreate(
            name=str(values.get("name") or positional[0].split(":")[0].split("/")[-1]),
            networks=_strings(values.get("networks")),
            replicas=_count("--replicas", values.get("replicas"), 1),
            max_per_node=_count("--replicas-max-per-node", values.get("max_per_node"), 0),
            global_mode=mode == "global", dnsrr=endpoint_mode == "dnsrr")
    if verb in {"rm", "remove"}:
        _, names = parse_options(rest, {})
        if not names:
            raise ScenarioError("docker service rm needs a service name")
        return ServiceRemove(names=tuple(names))
    raise ScenarioError(f"docker service {verb} is not supported")


def _swarm(args: list[str]) -> Action:
    verb, rest = (args[0], args[1:]) if args else ("", [])
    if verb == "init":
        values, _ = parse_options(rest, _SWARM_INIT)
        return SwarmInit(advertise=str(values.get("advertise") or ""))
    if verb == "join":
        values, positional = parse_options(rest, _SWARM_JOIN)
        if len(positional) != 1:
            raise ScenarioError("docker swarm join takes the manager's HOST:PORT")
        return SwarmJoin(manager=positional[0], advertise=str(values.get("advertise") or ""))
    if verb == "leave":
        values, positional = parse_options(rest, _SWARM_LEAVE)
        if positional:
            raise ScenarioError("docker swarm leave takes no arguments")
        return SwarmLeave(force=bool(values.get("force")))
    raise ScenarioError(f"docker swarm {verb} is not supported")


def _plugin(args: list[str]) -> Action:
    verb, rest = (args[0], args[1:]) if args else ("", [])
    if verb in {"enable", "disable"}:
        spec: Spec = ({"--timeout": ("", "skip")} if verb == "enable"
                      else {"-f": ("force", "flag"), "--force": ("force", "flag")})
        values, names = parse_options(rest, spec)
        if len(names) != 1:
            raise ScenarioError(f"docker plugin {verb} takes one plugin name")
        if verb == "enable":
            return PluginEnable(name=_plugin_name(names[0]))
        return PluginDisable(name=_plugin_name(names[0]), force=bool(values.get("force")))
    raise ScenarioError(f"docker plugin {verb} is not supported")


def _plugin_name(name: str) -> str:
    """The name a managed plugin's drivers are registered under (``NAME:latest``)."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


_CONTAINER_VERBS = {"run", "create", "start", "stop", "kill", "restart", "rm"}
_READ_ONLY = {"exec", "ps", "inspect", "logs", "images", "version", "info", "top", "port"}
_READ_ONLY_NETWORK = {"ls", "list", "inspect"}
_RESTARTS = (["systemctl", "restart", "docker"], ["service", "docker", "restart"])


def split_context(argv: list[str]) -> tuple[str, list[str]]:
    """``docker --context NAME ARGS`` -> ``(NAME, docker ARGS)``; ``""`` without one."""
    if not argv or argv[0] != "docker":
        return "", argv
    head: list[str] = []
    rest = argv[1:]
    while rest and rest[0].startswith("-") and rest[0].partition("=")[0] in _GLOBAL:
        head.append(rest.pop(0))
        if "=" not in head[-1] and rest:
            head.append(rest.pop(0))
    values, _ = parse_options(head, _GLOBAL)
    return str(values.get("context", "")), ["docker", *rest]


def parse_command(argv: list[str]) -> Action:
    """One command line (already split, without ``--context``) into an action."""
    if argv in _RESTARTS:
        return RestartDaemon()
    if argv and argv[0] == "sleep":
        return Pause(waits=True)
    if not argv or argv[0] != "docker" or len(argv) < 2:
        raise ScenarioError(f"not a docker command: {shlex.join(argv)!r}")
    verb, rest = argv[1], argv[2:]
    if verb == "container" and rest:
        verb, rest = rest[0], rest[1:]
    if verb in _READ_ONLY or (verb in {"network", "service", "node", "plugin"} and rest[:1]
                              and rest[0] in _READ_ONLY_NETWORK | {"ps"}):
        return Pause()  # asks dockerd nothing that reaches a plugin
    if verb == "network":
        return _network(rest)
    if verb == "service":
        return _service(rest)
    if verb == "swarm":
        return _swarm(rest)
    if verb == "plugin":
        return _plugin(rest)
    if verb in _CONTAINER_VERBS:
        return _container(verb, rest)
    raise ScenarioError(f"docker {verb} is not supported")


def _logical_lines(text: str) -> list[tuple[int, str]]:
    lines: list[tuple[int, str]] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not pending:
            start = number
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        lines.append((start, pending + raw))
        pending = ""
    if pending:
        lines.append((start, pending))
    return lines


def parse(text: str, source: str = "<scenario>") -> list[Step]:
    """Every step of a scenario. Raises ScenarioError naming ``source:line``."""
    steps = []
    for number, line in _logical_lines(text):
        try:
            argv = shlex.split(line, comments=True)
        except ValueError as exc:
            raise ScenarioError(f"{source}:{number}: {exc}") from exc
        if not argv:
            continue
        expect_failure = argv[0] == "!"
        argv = argv[1:] if expect_failure else argv
        try:
            node, command = split_context(argv)
            action = parse_command(command)
        except ScenarioError as exc:
            raise ScenarioError(f"{source}:{number}: {exc}") from exc
        steps.append(Step(line=number, text=shlex.join(argv), action=action,
                          expect_failure=expect_failure, node=node))
    return steps


def is_swarm(steps: list[Step]) -> bool:
    """Whether a scenario needs several daemons or a swarm (``emulator.swarm``)."""
    nodes = {step.node for step in steps}
    return len(nodes) > 1 or any(isinstance(step.action, SWARM_ACTIONS) for step in steps)


def load(path: Path | str) -> list[Step]:
    """Read and parse a scenario file. Raises OSError or ScenarioError."""
    path = Path(path)
    return parse(path.read_text(), str(path))
