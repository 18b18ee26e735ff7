"""The real dockerd as a test peer: the daemon matrix and helpers to drive it.

Three daemons: Debian's ``docker.io`` on the machine itself (20.10.24, bookworm) and in two
debootstrap chroots built by ``scripts/chroot_dockerd.sh`` (26.1.5 from trixie, 28.5.2 from sid,
cached in ``$IPAMX_SPY_CHROOTS``, default ``/var/cache/ipamx-spy/chroots``). A chroot daemon runs
in a private mount namespace with the host's ``/run/docker/plugins`` bind-mounted in (plugins and
spies started on the host serve it) and its socket and data root in a host folder (the host's
``docker`` CLI reaches it and negotiates the API version).

Tests marked ``docker`` take the ``dockerd`` fixture (a session-wide daemon) or the ``daemon``
fixture (which dockerd to start with ``fresh_dockerd``); both are parametrized over the daemons
selected with ``--dockerd 20.10,26.1,28.5`` (or ``$IPAMX_SPY_DOCKERD``; default all three) and
narrowed per test with ``@pytest.mark.dockerd("28.5", ...)``. A daemon that cannot run is
skipped with the reason, unless ``IPAMX_SPY_REQUIRE_DOCKER=1`` (set by ``.ci/run``), which turns
the skip into a failure. Plugin names are activated once per daemon lifetime, so every test gets
its own name from ``plugin_name``.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ipamx_spy.dockerd.versions import VersionRow, lookup
from ipamx_spy.places import CONTROL_DIR

PLUGIN_DIR = Path("/run/docker/plugins")
RECORDINGS = Path(__file__).resolve().parent.parent / "recordings"
IMAGE = "bb:latest"
CHROOTS = Path(os.environ.get("IPAMX_SPY_CHROOTS", "/var/cache/ipamx-spy/chroots"))
STAMP = ".ipamx-spy-complete"  # written by scripts/chroot_dockerd.sh when a chroot is complete
INNER = "/run/ipamx-spy-work"  # where a chroot daemon sees its host folder (on its own tmpfs)


def _require() -> bool:
    return os.environ.get("IPAMX_SPY_REQUIRE_DOCKER") == "1"


def _unavailable(reason: str) -> None:
    if _require():
        pytest.fail(f"IPAMX_SPY_REQUIRE_DOCKER=1 but the real dockerd cannot run: {reason}")
    pytest.skip(f"needs the real dockerd: {reason}")


def _find(*names: str) -> str | None:
    for name in names:
        if os.path.isabs(name) and os.access(name, os.X_OK):
            return name
        found = shutil.which(name)
        if found:
            return found
    return None


@dataclass(frozen=True, kw_only=True)
class Daemon:
    """One dockerd of the matrix: Debian's ``docker.io`` of one release, on the host or in a
    chroot."""

    label: str  # "20.10", "26.1", "28.5": what --dockerd and @pytest.mark.dockerd name
    suite: str  # the Debian release that ships it
    chroot: Path | None  # None: the machine's own

    @property
    def major(self) -> int:
        return int(self.label.split(".")[0])

    def missing(self) -> str | None:
        """Why this daemon cannot run here, or None."""
        if os.geteuid() != 0:
            return "dockerd needs root"
        if _find("/usr/bin/docker", "docker") is None:
            return "the docker CLI is not installed (Debian package docker.io)"
        if self.chroot is None:
            if _find("/usr/sbin/dockerd", "dockerd") is None:
                return "dockerd is not installed (Debian package docker.io)"
            return None
        if not (self.chroot / STAMP).is_file():
            return (f"dockerd {self.label} needs the {self.suite} chroot {self.chroot}; "
                    f"build it with: sudo bash scripts/chroot_dockerd.sh build {self.suite}")
        return None


HOST = Daemon(label="20.10", suite="bookworm", chroot=None)
DAEMONS: dict[str, Daemon] = {
    "20.10": HOST,
    "26.1": Daemon(label="26.1", suite="trixie", chroot=CHROOTS / "trixie"),
    "28.5": Daemon(label="28.5", suite="sid", chroot=CHROOTS / "sid"),
}


def selected_daemons(text: str) -> list[Daemon]:
    """The daemons a ``--dockerd`` value names: ``all`` or labels such as ``20.10,28.5``
    (``20``, ``26``, ``28`` and full versions such as ``28.5.2`` name them too)."""
    if text.strip() in ("", "all"):
        return list(DAEMONS.values())
    chosen: list[Daemon] = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        matches = [d for d in DAEMONS.values()
                   if part == d.label or part.startswith(d.label + ".")
                   or part == str(d.major)]
        if not matches:
            raise pytest.UsageError(
                f"--dockerd {part!r}: choose from {', '.join(DAEMONS)} (or all)")
        chosen += [m for m in matches if m not in chosen]
    return chosen


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--dockerd", default=os.environ.get("IPAMX_SPY_DOCKERD", "all"),
                     help="real dockerd versions to test against: all (default) or a comma "
                          f"list of {', '.join(DAEMONS)}")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "dockerd(*labels): run only against these dockerd "
                                       f"versions ({', '.join(DAEMONS)})")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "daemon" not in metafunc.fixturenames:
        return
    daemons = selected_daemons(str(metafunc.config.getoption("--dockerd", "all")))
    marker = metafunc.definition.get_closest_marker("dockerd")
    if marker is not None:
        wanted = selected_daemons(",".join(marker.args))
        daemons = [d for d in daemons if d in wanted]
    if not daemons:
        metafunc.parametrize("daemon", [pytest.param(None, marks=pytest.mark.skip(
            reason="none of the selected dockerd versions is one this test runs against"))],
            indirect=True, scope="session", ids=["none"])
        return
    metafunc.parametrize("daemon", daemons, ids=[d.label for d in daemons], indirect=True,
                         scope="session")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A ``docker`` test that takes neither ``daemon`` nor ``dockerd`` runs against the host's
    20.10 only, so it is left out when ``--dockerd`` does not select 20.10."""
    if HOST in selected_daemons(str(config.getoption("--dockerd", "all"))):
        return
    keep, drop = [], []
    for item in items:
        host_only = (item.get_closest_marker("docker") is not None
                     and "daemon" not in getattr(item, "fixturenames", ()))
        (drop if host_only else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@dataclass
class Docker:
    """A running dockerd and its CLI."""

    root: Path
    socket: Path
    cli: str
    process: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    daemon: Daemon = HOST
    version: str = ""  # the server's full version, e.g. "28.5.2"

    @property
    def major(self) -> int:
        return self.daemon.major

    @property
    def wire(self) -> VersionRow:
        """What this daemon sends plugins: its row in the version table (``lookup``)."""
        return lookup(self.version or self.daemon.label)

    def spaces_calls(self, *, activation: bool) -> list[str]:
        """The ``GetDefaultAddressSpaces`` calls before a network create's ``RequestPool``
        (one pool), on the plugin's first use (``activation``) or later."""
        wire = self.wire
        count = (int(activation and wire.spaces_at_registration) + int(wire.spaces_per_create)
                 + int(wire.spaces_per_request_pool))
        return ["IpamDriver.GetDefaultAddressSpaces"] * count

    def corpus(self, name: str) -> Path:
        """This daemon's capture ``name`` in ``recordings/`` (made by scripts/record_corpus.py)."""
        sub = "" if self.daemon is HOST else f"dockerd-{self.daemon.label}/"
        return RECORDINGS / f"{sub}{name}.jsonl"

    def run(self, *args: str, check: bool = True,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``docker ARGS``; with ``check`` a failure raises with the command's output."""
        result = subprocess.run([self.cli, *args], env=self.env, capture_output=True, text=True,
                                timeout=timeout)
        if check and result.returncode != 0:
            raise AssertionError(f"docker {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout}{result.stderr}")
        return result

    def inspect(self, *args: str) -> list[dict]:  # type: ignore[type-arg]
        return json.loads(self.run(*args).stdout)  # type: ignore[no-any-return]

    def network(self, name: str) -> dict:  # type: ignore[type-arg]
        return self.inspect("network", "inspect", name)[0]

    def container_ip(self, container: str, network: str) -> str:
        data = self.inspect("inspect", container)[0]
        return str(data["NetworkSettings"]["Networks"][network]["IPAddress"])

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def make_image(docker: Docker, workdir: Path) -> None:
    busybox = _find("/bin/busybox", "busybox")
    if busybox is None:
        _unavailable("busybox (Debian package busybox-static) is not installed")
    tar_path = workdir / "bb.tar"
    with tarfile.open(tar_path, "w") as tar:
        tar.add(busybox, arcname="bin/busybox")
        for applet in ("sh", "sleep", "ip", "ping", "cat", "hostname"):
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            tar.addfile(info)
    docker.run("import", "--change", "ENV PATH=/bin", str(tar_path), IMAGE)


def _wait_ready(docker: Docker, deadline: float) -> None:
    while time.monotonic() < deadline:
        if docker.process.poll() is not None:
            raise RuntimeError(f"dockerd exited early:\n{docker.log_text()[-3000:]}")
        ready = docker.socket.exists() and docker.run("version", check=False, timeout=10)
        if ready and ready.returncode == 0:
            return
        time.sleep(0.2)
    raise RuntimeError(f"dockerd did not come up:\n{docker.log_text()[-3000:]}")


def _dockerd_args(dockerd: str, root: Path, sock: Path, extra: tuple[str, ...]) -> list[str]:
    return [dockerd, "--data-root", str(root / "root"), "--exec-root", str(root / "exec"),
            "--pidfile", str(root / "pid"), "-H", f"unix://{sock}", "--storage-driver", "vfs",
            "--iptables=false", "--ip6tables=false", "--bridge=none", *extra]


def _chroot_command(chroot: Path, workdir: Path, extra: tuple[str, ...]) -> list[str]:
    """dockerd of ``chroot`` in a private mount namespace whose root *is* the chroot: the chroot
    bind-mounted onto itself (a mount point), proc, sys and dev, a tmpfs on its /run, the host's
    plugin directory, control directory (``/run/ipamx-spy``) and ``/tmp`` (where tests keep the
    folders they bind-mount into containers) and ``workdir`` (socket, data and exec root) in
    it, then ``pivot_root`` into it. A plain ``chroot`` is not enough: ``docker exec`` joins
    the container's mount namespace, whose root would still be the host's, and the command
    would run in the host's files instead of the container's."""
    d = shlex.quote(str(chroot))
    inner = Path(INNER)
    args = _dockerd_args("dockerd", inner, inner / "docker.sock", extra)
    script = "\n".join([
        "set -e",
        f"mount --bind {d} {d}",
        f"mount -t proc proc {d}/proc",
        f"mount --rbind /sys {d}/sys",
        f"mount --rbind /dev {d}/dev",
        f"mount -t tmpfs -o mode=755 tmpfs {d}/run",
        f"mkdir -p {d}/run/docker/plugins {d}/run/ipamx-spy {d}{INNER} "
        f"{d}/run/ipamx-spy-oldroot",
        f"mount --bind {shlex.quote(str(PLUGIN_DIR))} {d}/run/docker/plugins",
        f"mount --bind {shlex.quote(str(CONTROL_DIR))} {d}/run/ipamx-spy",
        f"mount --bind /tmp {d}/tmp",
        f"mount --bind {shlex.quote(str(workdir))} {d}{INNER}",
        f"cd {d}",
        "pivot_root . run/ipamx-spy-oldroot",
        "cd /",
        "umount -l /run/ipamx-spy-oldroot",
        "rmdir /run/ipamx-spy-oldroot",
        f"exec {shlex.join(args)}",
    ])
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]


def start_dockerd(workdir: Path, *extra: str, daemon: Daemon = HOST,
                  netns: str | None = None) -> Docker:
    """Start ``daemon`` with its data in ``workdir``; waits until it answers. ``netns``: in
    that named network namespace (``nsenter``: ``ip netns exec`` would mount a sysfs without
    the cgroup mounts dockerd needs), as docker-in-docker or rootless Docker run it."""
    reason = daemon.missing()
    if reason is not None:
        _unavailable(reason)
    cli = _find("/usr/bin/docker", "docker")
    assert cli is not None
    workdir.mkdir(parents=True, exist_ok=True)
    PLUGIN_DIR.mkdir(parents=True, exist_ok=True)
    CONTROL_DIR.mkdir(parents=True, exist_ok=True)
    sock = workdir / "docker.sock"
    log = workdir / "dockerd.log"
    if daemon.chroot is None:
        dockerd = _find("/usr/sbin/dockerd", "dockerd")
        assert dockerd is not None
        args = _dockerd_args(dockerd, workdir, sock, extra)
    else:
        args = _chroot_command(daemon.chroot, workdir, extra)
    if netns is not None:
        args = ["nsenter", f"--net=/run/netns/{netns}", *args]
    with open(log, "ab") as log_file:
        process = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT)
    docker = Docker(root=workdir, socket=sock, cli=cli, process=process, log=log,
                    env={**os.environ, "DOCKER_HOST": f"unix://{sock}"}, daemon=daemon)
    _wait_ready(docker, time.monotonic() + 60)
    docker.version = docker.run("version", "--format", "{{.Server.Version}}").stdout.strip()
    return docker


def stop_dockerd(docker: Docker, *, remove_containers: bool = True) -> None:
    """Stop dockerd (SIGTERM). With ``remove_containers``, remove every container first."""
    if remove_containers:
        containers = docker.run("ps", "-aq", check=False).stdout.split()
        if containers:
            docker.run("rm", "-f", *containers, check=False)
    docker.process.send_signal(signal.SIGTERM)
    try:
        docker.process.wait(30)
    except subprocess.TimeoutExpired:
        docker.process.kill()
        docker.process.wait()


@contextmanager
def fresh_dockerd(daemon: Daemon = HOST, prefix: str = "ipx-dk-",
                  extra: tuple[str, ...] = ()) -> Iterator[Docker]:
    """A new ``daemon`` (with dockerd options ``extra``) in a new directory, with the
    ``bb:latest`` image; removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    try:
        try:
            docker = start_dockerd(workdir, *extra, daemon=daemon)
        except RuntimeError as exc:
            _unavailable(str(exc))
            raise
        try:
            make_image(docker, workdir)
            yield docker
        finally:
            stop_dockerd(docker)
    finally:
        unmount_below(workdir)
        shutil.rmtree(workdir, ignore_errors=True)


def unmount_below(directory: Path) -> None:
    """Unmount whatever dockerd left mounted below ``directory`` (netns files, shm), deepest
    first, so that the directory can be removed."""
    prefix = str(directory.resolve()) + "/"
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts]
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)


@pytest.fixture(scope="session")
def daemon(request: pytest.FixtureRequest) -> Daemon:
    """Which dockerd of the matrix this test runs against (see ``pytest_generate_tests``)."""
    chosen = getattr(request, "param", HOST)
    assert isinstance(chosen, Daemon)
    return chosen


@pytest.fixture(scope="session")
def dockerd(daemon: Daemon) -> Iterator[Docker]:
    """A dockerd for the whole test session (one per daemon of the matrix), with the
    ``bb:latest`` busybox image."""
    with fresh_dockerd(daemon) as docker:
        yield docker


@pytest.fixture
def host_routes() -> Iterator[None]:
    """Held by tests whose outcome depends on the host's routes: dockerd skips a dynamic pool
    that overlaps a route, and every bridge network of every daemon on the machine adds one.
    The pytest processes of ``.ci/run`` (one per daemon) take turns through this lock."""
    import fcntl

    lock = Path("/run/lock/ipamx-spy-host-routes.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture
def plugin_name() -> str:
    """A plugin name never used before in this daemon's lifetime."""
    return f"ipx{uuid.uuid4().hex[:8]}"


@dataclass
class SpyProcess:
    """``ipamx-spy`` running as a subprocess (as a user runs it)."""

    process: subprocess.Popen[str]
    socket: Path
    recording: Path | None
    output: str = ""

    def stop(self, sig: int = signal.SIGTERM) -> str:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            out, _ = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        self.output += out or ""
        return self.output


def run_until(docker: Docker, args: list[str], ready: str) -> tuple[subprocess.Popen[str], str]:
    """``ipamx-spy ARGS`` with ``docker``'s environment, read until it prints a line with
    ``ready`` (fails with what it printed when it exits first); the process and its output."""
    process = subprocess.Popen([sys.executable, "-m", "ipamx_spy", *args], env=docker.env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    output = ""
    while ready not in output:
        line = process.stdout.readline()
        assert line, f"ipamx-spy {args[0]} exited:\n{output}{process.communicate()[0]}"
        output += line
    return process, output


def stop_until_done(process: subprocess.Popen[str], output: str) -> str:
    """SIGTERM to a ``run_until`` process; all it printed once it has exited."""
    process.send_signal(signal.SIGTERM)
    return output + process.communicate(timeout=60)[0]


def spawn_spy(args: list[str], socket: Path, recording: Path | None,
              timeout: float = 60) -> SpyProcess:
    """Start ``ipamx-spy ARGS`` and wait until its socket accepts connections (and, for a
    ``proxy --name N``, until its control socket is there too: ``ipamx-spy mark`` needs it)."""
    process = subprocess.Popen([sys.executable, "-m", "ipamx_spy", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    spy = SpyProcess(process=process, socket=socket, recording=recording)
    wanted = [socket]
    if args[:1] == ["proxy"] and "--control" in args:
        wanted.append(Path(args[args.index("--control") + 1]))
    elif args[:1] == ["proxy"] and "--name" in args:
        wanted.append(CONTROL_DIR / f"{args[args.index('--name') + 1]}.ctl")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"ipamx-spy exited early:\n{spy.stop()}")
        if all(path.exists() for path in wanted):
            return spy
        time.sleep(0.05)
    raise RuntimeError(f"ipamx-spy did not listen on {' and '.join(map(str, wanted))}:\n"
                       f"{spy.stop()}")
