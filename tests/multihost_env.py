"""Several dockerd "hosts" on this machine, each in its own network namespace (tests only).

``Hosts(n)`` creates a bridge with a random name in the root namespace and a random
198.18.X.0/24 on it (the benchmarking range, never routed), then per host a network namespace
with a random name, a veth pair (one end on the bridge, the other ``eth0`` in the namespace with
198.18.X.(i+1)/24) and a dockerd started inside that namespace with ``nsenter --net`` (only the
network namespace: files, sockets and mounts stay shared, as ``docker_env`` expects), its own
data and exec roots under /tmp, and the busybox image. ``swarm()`` runs ``docker swarm init`` on
the first host and ``docker swarm join`` on the others. ``close()`` stops every daemon and
removes the namespaces, veths and the bridge.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from docker_env import Docker, _wait_ready, make_image, stop_dockerd, unmount_below


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result


@dataclass
class Host:
    name: str
    netns: str
    address: str
    workdir: Path
    docker: Docker | None = None

    @property
    def d(self) -> Docker:
        assert self.docker is not None
        return self.docker


@dataclass
class Hosts:
    """``n`` dockerd hosts on one test bridge."""

    n: int
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    hosts: list[Host] = field(default_factory=list)
    subnet: str = ""
    bridge: str = ""

    def __post_init__(self) -> None:
        third = random.randint(1, 254)
        self.subnet = f"198.18.{third}"
        self.bridge = f"ipxb{self.tag}"

    def start(self) -> Hosts:
        ip("link", "add", self.bridge, "type", "bridge")
        ip("addr", "add", f"{self.subnet}.254/24", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        for i in range(self.n):
            self.hosts.append(self._make_host(i))
        for host in self.hosts:
            self._start_dockerd(host)
        return self

    def _make_host(self, i: int) -> Host:
        netns, outer = f"ipxn{self.tag}{i}", f"ipxv{self.tag}{i}"
        ip("netns", "add", netns)
        ip("link", "add", outer, "type", "veth", "peer", "name", f"ipxp{self.tag}{i}")
        ip("link", "set", outer, "master", self.bridge, "up")
        ip("link", "set", f"ipxp{self.tag}{i}", "netns", netns)
        inside = ("netns", "exec", netns, "ip")
        ip(*inside, "link", "set", f"ipxp{self.tag}{i}", "name", "eth0")
        ip(*inside, "addr", "add", f"{self.subnet}.{i + 1}/24", "dev", "eth0")
        ip(*inside, "link", "set", "eth0", "up")
        ip(*inside, "link", "set", "lo", "up")
        workdir = Path(tempfile.mkdtemp(prefix=f"ipx-h{i}-", dir="/tmp"))
        return Host(name=f"node{i + 1}", netns=netns, address=f"{self.subnet}.{i + 1}",
                    workdir=workdir)

    def _start_dockerd(self, host: Host) -> None:
        dockerd, cli = shutil.which("dockerd"), shutil.which("docker")
        if dockerd is None or cli is None:
            raise RuntimeError("dockerd and docker are not installed (Debian package docker.io)")
        w = host.workdir
        sock, log = w / "docker.sock", w / "dockerd.log"
        args = ["nsenter", f"--net=/run/netns/{host.netns}", dockerd,
                "--data-root", str(w / "root"), "--exec-root", str(w / "exec"),
                "--pidfile", str(w / "pid"), "-H", f"unix://{sock}", "--storage-driver", "vfs",
                "--iptables=false", "--ip6tables=false", "--bridge=none"]
        with open(log, "ab") as log_file:
            process = subprocess.Popen(args, stdout=log_file, stderr=subprocess.STDOUT)
        host.docker = Docker(root=w, socket=sock, cli=cli, process=process, log=log,
                             env={**os.environ, "DOCKER_HOST": f"unix://{sock}"})
        _wait_ready(host.docker, time.monotonic() + 120)
        make_image(host.docker, w)

    def swarm(self) -> None:
        manager = self.hosts[0]
        manager.d.run("swarm", "init", "--advertise-addr", manager.address,
                      "--listen-addr", f"{manager.address}:2377", timeout=120)
        token = manager.d.run("swarm", "join-token", "-q", "worker").stdout.strip()
        for host in self.hosts[1:]:
            host.d.run("swarm", "join", "--token", token, "--advertise-addr", host.address,
                       "--listen-addr", f"{host.address}:2377", f"{manager.address}:2377",
                       timeout=120)

    def netns_run(self, host: Host, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", host.netns, *args], capture_output=True,
                              text=True, timeout=60)

    def close(self) -> None:
        for host in reversed(self.hosts):
            if host.docker is not None and host.docker.process.poll() is None:
                host.d.run("swarm", "leave", "--force", check=False, timeout=60)
                try:
                    stop_dockerd(host.d)
                except (subprocess.SubprocessError, OSError):
                    host.d.process.send_signal(signal.SIGKILL)
            unmount_below(host.workdir)
            shutil.rmtree(host.workdir, ignore_errors=True)
            ip("netns", "del", host.netns, check=False)
        for i in range(self.n):
            ip("link", "del", f"ipxv{self.tag}{i}", check=False)
        ip("link", "del", self.bridge, check=False)

    def __enter__(self) -> Hosts:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *_exc: object) -> None:
        self.close()
