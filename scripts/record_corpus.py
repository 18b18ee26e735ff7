"""Record the corpus in recordings/ with the real dockerd and ipamx-spy (run as root).

``--dockerd 20.10`` (the default) writes ``recordings/NAME.jsonl`` with the machine's dockerd;
``--dockerd 26.1`` and ``--dockerd 28.5`` use the chroot daemons of ``tests/docker_env.py``
(``scripts/chroot_dockerd.sh build`` makes them) and write ``recordings/dockerd-26.1/`` and
``recordings/dockerd-28.5/``. The reference plugin imitates that daemon's own IPAM
(``--docker-compat`` with its version), and the header of every file names the daemon
(``docker_version``, the server's full version, and ``source``).

Each scenario gets a fresh dockerd (plugins are activated once per daemon lifetime, and the
corpus should show the activation) and a fresh ipamx-spy proxy named ``ipamx`` in front of the
built-in reference plugin, which runs as its own process (``ipamx-spy serve``) so that the
restart scenario can restart the plugin while the proxy keeps recording. Before each docker
command the script inserts a marker with ``ipamx-spy mark``.

``--captures`` plays ``scenarios/NAME.scenario`` files instead (every one that has a 20.10
capture in ``scenarios/captures/``) and writes ``scenarios/captures/dockerd-VERSION/``.

Usage: python scripts/record_corpus.py [SCENARIO ...] [--dockerd 20.10|26.1|28.5] [--captures]
       [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from docker_env import (  # noqa: E402
    DAEMONS,
    HOST,
    PLUGIN_DIR,
    Daemon,
    Docker,
    SpyProcess,
    make_image,
    spawn_spy,
    start_dockerd,
    stop_dockerd,
    unmount_below,
)

NAME = "ipamx"  # the plugin name the scenarios and scenarios/*.scenario use
_NAME_TOKEN = re.compile(r"(?<![\w-])ipamx(?![\w-])")


def renamed(text: str, plugin: str) -> str:
    """``text`` (a docker command or a scenario) with the plugin name ``ipamx`` as ``plugin``."""
    return _NAME_TOKEN.sub(plugin, text)
SPACES = ["--local-space", "ipamx-local", "--global-space", "ipamx-global"]


@dataclass(frozen=True)
class Step:
    """A docker command (``docker`` omitted), or a special action such as ``@restart``."""

    command: str
    fails: bool = False


@dataclass(frozen=True)
class Scenario:
    summary: str
    steps: tuple[Step, ...]
    network_driver: bool = False
    serve_args: tuple[str, ...] = field(default=())
    compat: str | None = None  # the reference plugin's --docker-compat (default: the daemon's)


def s(command: str, fails: bool = False) -> Step:
    return Step(command, fails)


RUN = "run -d --name {name} --net {net} {extra}bb:latest sleep 600"


def run(name: str, net: str, extra: str = "") -> Step:
    return s(RUN.format(name=name, net=net, extra=extra + " " if extra else ""))


SCENARIOS: dict[str, Scenario] = {
    "talk": Scenario(
        "the talk's scenario: a /24 pool, a container with --ip, one without, stop, rm, "
        "network rm",
        (s("network create -d bridge --ipam-driver ipamx --subnet 10.4.4.0/24 mynet"),
         run("c1", "mynet", "--ip 10.4.4.21"), run("c2", "mynet"),
         s("stop -t 1 c1 c2"), s("rm c1 c2"), s("network rm mynet"))),
    "iprange-gateway-aux": Scenario(
        "--ip-range with --gateway and --aux-address; containers get addresses from the range",
        (s("network create -d bridge --ipam-driver ipamx --subnet 10.20.0.0/16 "
           "--ip-range 10.20.5.0/24 --gateway 10.20.0.1 --aux-address router=10.20.0.2 "
           "--ipam-opt color=blue rangenet"),
         run("r1", "rangenet"), run("r2", "rangenet", "--ip 10.20.7.7"),
         s("rm -f r1 r2"), s("network rm rangenet"))),
    "dual-stack": Scenario(
        "dual stack with --ipv6: an IPv4 and an IPv6 pool, gateways and container addresses "
        "in both",
        (s("network create -d bridge --ipam-driver ipamx --ipv6 --subnet 10.30.0.0/24 "
           "--subnet fd00:30::/64 dualnet"),
         run("d1", "dualnet"), run("d2", "dualnet", "--ip6 fd00:30::99"),
         s("rm -f d1 d2"), s("network rm dualnet"))),
    "dynamic-pools": Scenario(
        "no --subnet: the allocator picks pools; rm and create again shows the pool choice",
        (s("network create -d bridge --ipam-driver ipamx dyn1"),
         s("network create -d bridge --ipam-driver ipamx dyn2"),
         s("network rm dyn1"), s("network create -d bridge --ipam-driver ipamx dyn3"),
         run("y1", "dyn3"), s("rm -f y1"), s("network rm dyn2 dyn3"))),
    "errors": Scenario(
        "refusals: pool overlap, address already in use, no address left in a /30",
        (s("network create -d bridge --ipam-driver ipamx --subnet 10.40.0.0/24 errnet"),
         s("network create -d bridge --ipam-driver ipamx --subnet 10.40.0.0/24 errnet2",
           fails=True),
         run("e1", "errnet", "--ip 10.40.0.10"),
         s(RUN.format(name="e2", net="errnet", extra="--ip 10.40.0.10 "), fails=True),
         s("network create -d bridge --ipam-driver ipamx --subnet 10.41.0.0/30 tiny"),
         run("t1", "tiny"), s(RUN.format(name="t2", net="tiny", extra=""), fails=True),
         s("rm -f e1 e2 t1 t2"), s("network rm errnet tiny"))),
    "restart-replay": Scenario(
        "daemon restart with request replay: the plugin keeps no state (RequiresRequestReplay) "
        "and dockerd replays pools and addresses to it",
        (s("network create -d bridge --ipam-driver ipamx --subnet 10.50.0.0/24 "
           "--ip-range 10.50.0.128/25 keepnet"),
         run("k1", "keepnet"), s("@restart"),
         run("k2", "keepnet"), s("rm -f k1 k2"), s("network rm keepnet")),
        serve_args=("--state", "none")),
    "netdriver-lifecycle": Scenario(
        "the built-in network driver and allocator together: every NetworkDriver call from "
        "network create to network rm, with connect and disconnect",
        (s("network create -d ipamx --ipam-driver ipamx --subnet 10.60.0.0/24 drvnet"),
         s("network create -d ipamx --ipam-driver ipamx --subnet 10.61.0.0/24 drvnet2"),
         run("n1", "drvnet"), run("n2", "drvnet"),
         s("exec n1 ping -c 1 -W 2 10.60.0.3"),
         s("network connect drvnet2 n1"), s("network disconnect drvnet2 n1"),
         s("stop -t 1 n1 n2"), s("rm n1 n2"), s("network rm drvnet drvnet2")),
        network_driver=True),
}


def from_scenario_file(path: Path) -> Scenario:
    """A corpus scenario from ``scenarios/NAME.scenario``: ``! docker …`` must fail and
    ``systemctl restart docker`` restarts the daemon (and the plugin, keeping its state file)."""
    from ipamx_spy.emulator.scenario import load as load_scenario

    steps: list[Step] = []
    for step in load_scenario(path):
        argv = shlex.split(step.text)
        if argv[:1] != ["docker"]:
            steps.append(Step("@restart"))
            continue
        steps.append(Step(shlex.join(argv[1:]), step.expect_failure))
    driver = any("-d ipamx" in step.command for step in steps)
    # Any plugin will do (the emulator is given the recorded answers); 27's has a local IPv6
    # pool for the scenarios that create IPv6 networks without --subnet.
    return Scenario(f"scenarios/{path.name}", tuple(steps), network_driver=driver, compat="27")


class Session:
    """One scenario's dockerd, plugin and proxy."""

    def __init__(self, work: Path, scenario: Scenario, out: Path, daemon: Daemon = HOST,
                 plugin: str = NAME) -> None:
        self.work = work
        self.daemon = daemon
        self.plugin_name = plugin
        self.scenario = scenario
        self.out = out
        self.docker: Docker | None = None
        self.plugin: subprocess.Popen[str] | None = None
        self.spy: SpyProcess | None = None
        self.strict = True  # False: a command whose exit differs from the scenario is noted
        self.log: Callable[[str], None] = print

    def start_plugin(self) -> None:
        sock = self.work / "plugin.sock"
        compat = self.scenario.compat or self.daemon.label
        # --name: the network driver names its links after the plugin; sessions side by side
        # (one per daemon in CI) must not take each other's bridges for leftovers.
        args = ["serve", "--name", self.plugin_name, "--listen", str(sock), "--docker-compat",
                compat, *SPACES,
                *self.scenario.serve_args]
        if "--state" not in self.scenario.serve_args:
            args += ["--state", str(self.work / "state.json")]
        if self.scenario.network_driver:
            args.append("--network-driver")
        self.plugin = subprocess.Popen([sys.executable, "-m", "ipamx_spy", *args], text=True)
        deadline = time.monotonic() + 60
        while not sock.exists():
            if time.monotonic() > deadline or self.plugin.poll() is not None:
                raise RuntimeError("the built-in plugin did not start")
            time.sleep(0.05)

    def stop_plugin(self) -> None:
        assert self.plugin is not None
        self.plugin.terminate()
        self.plugin.wait(30)

    def start(self) -> None:
        self.docker = start_dockerd(self.work / "d", daemon=self.daemon)
        make_image(self.docker, self.work)
        self.start_plugin()
        self.spy = spawn_spy(["proxy", "--name", self.plugin_name, "--upstream",
                              str(self.work / "plugin.sock"), "--record", str(self.out),
                              "--compact"], PLUGIN_DIR / f"{self.plugin_name}.sock", self.out)

    def mark(self, text: str) -> None:
        subprocess.run([sys.executable, "-m", "ipamx_spy", "mark", "--name", self.plugin_name,
                        text],
                       check=True, capture_output=True)

    def step(self, step: Step) -> None:
        assert self.docker is not None
        if step.command == "@restart":
            self.mark("dockerd restart (the plugin restarts too, with empty state)")
            stop_dockerd(self.docker, remove_containers=False)
            self.stop_plugin()
            self.start_plugin()
            self.docker = start_dockerd(self.work / "d", daemon=self.daemon)
            return
        command = renamed(step.command, self.plugin_name)
        self.mark(f"docker {command}")
        result = self.docker.run(*shlex.split(command), check=False)
        if (result.returncode != 0) != step.fails and not self.strict:
            # Another daemon may refuse what 20.10 took (or take what it refused): the capture
            # records what this one did, and says so.
            said = f"docker exited {result.returncode}: {result.stderr.strip()}"
            self.log(f"    not as the scenario expects: {said}")
            self.mark(said)
            return
        if (result.returncode != 0) != step.fails:
            raise RuntimeError(f"docker {step.command}: unexpected exit {result.returncode}\n"
                               f"{result.stdout}{result.stderr}")
        if step.fails:
            self.mark(f"docker said: {result.stderr.strip()}")

    def stop(self) -> None:
        if self.spy is not None:
            self.spy.stop()
        if self.docker is not None:
            stop_dockerd(self.docker)
        if self.plugin is not None:
            self.stop_plugin()


def record(name: str, out_dir: Path, log: Callable[[str], None] = print,
           daemon: Daemon = HOST, plugin: str = NAME, scenario: Scenario | None = None,
           session_type: type[Session] = Session, strict: bool = True) -> Path:
    """Record scenario ``name`` (of SCENARIOS, or ``scenario``) with ``daemon`` into
    ``out_dir/name.jsonl``; ``plugin`` names the plugin (the corpus uses ``ipamx``; tests that
    run beside others use a fresh name). ``strict=False`` records on when a command's exit is
    not the scenario's (``--captures`` of the scenario files on another daemon)."""
    scenario = scenario or SCENARIOS[name]
    out = out_dir / f"{name}.jsonl"
    partial = out_dir / f".{name}.jsonl.partial"  # renamed into place once complete
    partial.unlink(missing_ok=True)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ipx-corpus-", dir="/tmp") as tmp:
        session = session_type(Path(tmp), scenario, partial, daemon, plugin)
        session.strict, session.log = strict, log
        try:
            session.start()
            assert session.docker is not None
            version = session.docker.version
            for step in scenario.steps:
                log(f"  {name}: {step.command}")
                session.step(step)
        finally:
            session.stop()
            unmount_below(Path(tmp))
    label_header(partial, version, daemon, plugin, scenario.compat or daemon.label)
    os.replace(partial, out)
    return out


def fresh_name() -> str:
    """A plugin name no other dockerd on the machine uses: the corpus records through a socket
    in the shared /run/docker/plugins, where another test's ``ipamx`` would be heard too."""
    return f"ipx{uuid.uuid4().hex[:8]}"


def label_header(path: Path, version: str, daemon: Daemon, plugin: str = NAME,
                 compat: str = "") -> None:
    """Name the daemon in the header (``docker_version``, ``source``) and give the plugin the
    corpus's name ``ipamx`` again in the header and the markers (``plugin`` is the name it was
    recorded under); replaced atomically. Exchanges are kept byte for byte."""
    lines = path.read_text().splitlines(keepends=True)
    header = json.loads(lines[0])
    if plugin != NAME:
        header["name"] = NAME
        header["listen"] = str(PLUGIN_DIR / f"{NAME}.sock")
        for index, line in enumerate(lines[1:], 1):
            record = json.loads(line)
            if record.get("type") == "marker" and plugin in record.get("text", ""):
                record["text"] = record["text"].replace(plugin, NAME)
                lines[index] = json.dumps(record, separators=(",", ":"),
                                          ensure_ascii=False) + "\n"
    header["docker_version"] = version.split("+")[0]
    where = "the machine's own" if daemon.chroot is None else f"a {daemon.suite} chroot's"
    header["source"] = (f"recorded by scripts/record_corpus.py: dockerd {version} ({where} "
                        "Debian docker.io) through ipamx-spy proxy in front of ipamx-spy serve "
                        f"--docker-compat {compat or daemon.label}")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(header, separators=(",", ":")) + "\n" + "".join(lines[1:]))
    os.replace(tmp, path)


def default_out(daemon: Daemon) -> Path:
    top = ROOT / "recordings"
    return top if daemon is HOST else top / f"dockerd-{daemon.label}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("scenarios", nargs="*", default=list(SCENARIOS))
    parser.add_argument("--dockerd", choices=list(DAEMONS), default=HOST.label)
    parser.add_argument("--captures", action="store_true",
                        help="record scenarios/NAME.scenario files (default: every one with a "
                             "20.10 capture in scenarios/captures) into "
                             "scenarios/captures/dockerd-VERSION/")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    daemon = DAEMONS[args.dockerd]
    if args.captures:
        names = args.scenarios if args.scenarios != list(SCENARIOS) else sorted(
            p.stem for p in (ROOT / "scenarios" / "captures").glob("*.jsonl"))
        out = args.out or ROOT / "scenarios" / "captures" / f"dockerd-{daemon.label}"
        for name in names:
            scenario = from_scenario_file(ROOT / "scenarios" / f"{name}.scenario")
            print(f"recording {scenario.summary} with dockerd {daemon.label}")
            done = record(name, out, daemon=daemon, scenario=scenario, plugin=fresh_name(),
                          strict=False)
            print(f"  -> {done}")
        return
    out = args.out or default_out(daemon)
    for name in args.scenarios:
        print(f"recording {name} with dockerd {daemon.label}: {SCENARIOS[name].summary}")
        print(f"  -> {record(name, out, daemon=daemon, plugin=fresh_name())}")


if __name__ == "__main__":
    main()
