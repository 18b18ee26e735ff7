"""Real etcd members on loopback for the shared-allocator tests (Debian's ``etcd-server``).

``EtcdCluster(n)`` starts ``n`` members, each on its own ephemeral client and peer port of
127.0.0.1 with its own data directory under /tmp, and waits (bounded) until the cluster has a
leader. Without the ``etcd`` binary the tests skip with the reason, unless
``IPAMX_SPY_REQUIRE_TOOLS=1`` (CI), where they fail. ``EtcdCluster(n, tls=True)`` makes a CA,
a server certificate for 127.0.0.1 and a client certificate in the cluster's directory
(``make_certs``) and serves clients over TLS only, demanding a client certificate.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ETCD = shutil.which("etcd") or "/usr/bin/etcd"
START_TIMEOUT = 30.0


def require_etcd() -> None:
    if os.path.exists(ETCD):
        return
    reason = "etcd (Debian's etcd-server) is not installed"
    if os.environ.get("IPAMX_SPY_REQUIRE_TOOLS") == "1":
        pytest.fail(reason + " (IPAMX_SPY_REQUIRE_TOOLS=1)")
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Certs:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def make_certs(folder: Path) -> Certs:
    """A throw-away CA with one server certificate (IP 127.0.0.1) and one client certificate."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)

    def name(text: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])

    def write(stem: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[
            Path, Path]:
        cert_path, key_path = folder / f"{stem}.pem", folder / f"{stem}-key.pem"
        cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cert_path, key_path

    def issue(subject: str, key: ec.EllipticCurvePrivateKey, issuer_key: ec.EllipticCurvePrivateKey,
              *extensions: tuple[x509.ExtensionType, bool]) -> x509.Certificate:
        builder = (x509.CertificateBuilder().subject_name(name(subject))
                   .issuer_name(name("ipamx-spy test CA")).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - dt.timedelta(minutes=5))
                   .not_valid_after(now + dt.timedelta(days=1)))
        for extension, critical in extensions:
            builder = builder.add_extension(extension, critical=critical)
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = issue("ipamx-spy test CA", ca_key, ca_key,
               (x509.BasicConstraints(ca=True, path_length=None), True))
    ca_path, _ = write("ca", ca, ca_key)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server = issue("etcd", server_key, ca_key,
                   (x509.SubjectAlternativeName([x509.IPAddress(
                       ipaddress.ip_address("127.0.0.1"))]), False),
                   (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False))
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = issue("ipamx-spy", client_key, ca_key,
                   (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False))
    server_paths, client_paths = write("server", server, server_key), write(
        "client", client, client_key)
    return Certs(ca=ca_path, server_cert=server_paths[0], server_key=server_paths[1],
                 client_cert=client_paths[0], client_key=client_paths[1])


@dataclass
class Member:
    name: str
    client_port: int
    peer_port: int
    data_dir: Path
    process: subprocess.Popen[bytes] | None = None
    log: Path = field(default_factory=Path)

    host: str = "127.0.0.1"

    @property
    def endpoint(self) -> str:
        return f"{self.host}:{self.client_port}"


class EtcdCluster:
    """``n`` etcd members on loopback; ``store_url`` is the ``--store`` value for all of them."""

    def __init__(self, n: int = 1, *, tls: bool = False, host: str = "127.0.0.1") -> None:
        require_etcd()
        self.host = host  # 127.0.0.1, or a test bridge's address (the swarm test's nodes)
        self.root = Path(tempfile.mkdtemp(prefix="ipx-etcd-", dir="/tmp"))
        self.certs = make_certs(self.root) if tls else None
        self.scheme = "https" if tls else "http"
        self.token = f"ipx-{uuid.uuid4().hex[:8]}"
        self.members = [Member(name=f"m{i}", client_port=free_port(), peer_port=free_port(),
                               data_dir=self.root / f"m{i}", host=host) for i in range(n)]
        for m in self.members:
            m.log = self.root / f"{m.name}.log"
        self.initial = ",".join(f"{m.name}=http://127.0.0.1:{m.peer_port}"
                                for m in self.members)

    @property
    def store_url(self) -> str:
        """``etcd://…``; with TLS ``etcds://…?ca=…&cert=…&key=…``."""
        members = ",".join(m.endpoint for m in self.members)
        if self.certs is None:
            return "etcd://" + members
        c = self.certs
        return f"etcds://{members}?ca={c.ca}&cert={c.client_cert}&key={c.client_key}"

    def start(self) -> EtcdCluster:
        for m in self.members:
            self.start_member(m)
        self.wait_healthy(self.members)
        return self

    def start_member(self, m: Member) -> None:
        args = [
            ETCD, "--name", m.name, "--data-dir", str(m.data_dir),
            "--listen-client-urls", f"{self.scheme}://{m.endpoint}",
            "--advertise-client-urls", f"{self.scheme}://{m.endpoint}",
            "--listen-peer-urls", f"http://127.0.0.1:{m.peer_port}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{m.peer_port}",
            "--initial-cluster", self.initial, "--initial-cluster-token", self.token,
            "--initial-cluster-state", "new",
            "--heartbeat-interval", "50", "--election-timeout", "500",
        ]
        if self.certs is not None:
            args += ["--cert-file", str(self.certs.server_cert), "--key-file",
                     str(self.certs.server_key), "--trusted-ca-file", str(self.certs.ca),
                     "--client-cert-auth"]
        with open(m.log, "ab") as log:
            m.process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)

    def wait_healthy(self, members: list[Member]) -> None:
        """Until every member in ``members`` answers /health with true (bounded)."""
        deadline = time.monotonic() + START_TIMEOUT
        pending = list(members)
        while pending:
            m = pending[0]
            if m.process is not None and m.process.poll() is not None:
                raise RuntimeError(f"etcd {m.name} exited: {m.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.scheme}://{m.endpoint}/health", timeout=2,
                                            context=self._ssl()) as r:
                    if b'"true"' in r.read():
                        pending.pop(0)
                        continue
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"etcd {m.name} not healthy after {START_TIMEOUT}s: "
                                   f"{m.log.read_text()[-2000:]}")
            time.sleep(0.1)

    def _ssl(self) -> ssl.SSLContext | None:
        if self.certs is None:
            return None
        context = ssl.create_default_context(cafile=str(self.certs.ca))
        context.load_cert_chain(self.certs.client_cert, self.certs.client_key)
        return context

    def kill(self, m: Member) -> None:
        if m.process is not None and m.process.poll() is None:
            m.process.send_signal(signal.SIGKILL)
            m.process.wait(timeout=10)

    def stop(self) -> None:
        for m in self.members:
            if m.process is not None and m.process.poll() is None:
                m.process.terminate()
                try:
                    m.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.kill(m)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> EtcdCluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *_exc: object) -> None:
        self.stop()
