"""The shared allocator's logs in etcd (v3 API, through the ``aetcd`` asyncio client).

Theory of operation. ``EtcdClient`` owns one private event loop in a daemon thread, and one
``aetcd.Client`` per cluster member on it; the allocator (synchronous, called off the relay's
event loop) submits coroutines with ``call`` and waits for them with a bound. A member that
refuses or times out is skipped for the next one; a member without a leader (an election after
a member died) is retried with a short backoff until ``deadline`` seconds have passed (5, or the
URL's ``?deadline=SECONDS``). When
every member refused the connection, ``call`` gives up at once: dockerd gets a clear error
instead of waiting for a cluster that is not there.

``EtcdLog`` keeps one ``shared.Log`` under a key prefix: ``PREFIX/head`` holds the number of
the last entry, ``PREFIX/log/<20-digit seq>`` each entry as JSON. An append is one
transaction: *if* ``head`` is still ``seq - 1``, put ``head`` and the entry; *else* return
``head`` and every entry after ``seq - 1`` (one round trip either way). A compaction is one
transaction too: put ``PREFIX/snapshot/<20-digit seq>`` (zlib-compressed JSON) and delete the
entries it makes unneeded and the older snapshots.

``etcds://`` speaks TLS to the members (gRPC's secure channel): the CA that signed their
certificates from ``?ca=FILE`` (else the system's roots), a client certificate from
``&cert=FILE&key=FILE`` when the members demand one (``--client-cert-auth``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import math
import threading
import time
import urllib.parse
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .errors import ConfigError, StateError
from .shared import Entry, Snapshot, StoreUnavailable

T = TypeVar("T")
SCHEME = "etcd://"
TLS_SCHEME = "etcds://"
TLS_FILES = ("ca", "cert", "key")
DEFAULT_PREFIX = "/ipamx-spy/v1"
RPC_TIMEOUT = 1.5
DEADLINE = 5.0
GRPC_OPTIONS = {"grpc.initial_reconnect_backoff_ms": 100, "grpc.min_reconnect_backoff_ms": 100,
                "grpc.max_reconnect_backoff_ms": 1000, "grpc.enable_retries": 0}


@dataclass(frozen=True, kw_only=True)
class EtcdSpec:
    """``--store etcd[s]://HOST:PORT[,HOST:PORT...][/PREFIX][?ca=FILE&cert=FILE&key=FILE]``,
    and ``deadline=SECONDS`` in the query: how long a call is retried while the cluster has no
    leader or its members time out (``DEADLINE`` when not given)."""

    endpoints: tuple[tuple[str, int], ...]
    prefix: str = DEFAULT_PREFIX
    tls: bool = False
    ca: str = ""
    cert: str = ""
    key: str = ""
    deadline: float = DEADLINE

    @classmethod
    def parse(cls, text: str) -> EtcdSpec:
        """Raises ConfigError naming what is wrong."""
        tls = text.startswith(TLS_SCHEME)
        if not tls and not text.startswith(SCHEME):
            raise ConfigError(f"--store {text!r}: expected etcd://HOST:PORT[,HOST:PORT...] "
                              "(etcds:// for TLS)")
        rest, _, query = text[len(TLS_SCHEME if tls else SCHEME):].partition("?")
        hosts, slash, path = rest.partition("/")
        endpoints = []
        for item in hosts.split(","):
            host, colon, port = item.rpartition(":")
            if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ConfigError(f"--store {text!r}: {item!r} is not HOST:PORT")
            endpoints.append((host.strip("[]"), int(port)))
        prefix = "/" + path.strip("/") if slash and path.strip("/") else DEFAULT_PREFIX
        files, deadline = _query(text, query, tls)
        return cls(endpoints=tuple(endpoints), prefix=prefix, tls=tls, deadline=deadline,
                   **files)

    def __str__(self) -> str:
        members = ",".join(f"{h}:{p}" for h, p in self.endpoints)
        fields = {name: getattr(self, name) for name in TLS_FILES if getattr(self, name)}
        if self.deadline != DEADLINE:
            fields["deadline"] = f"{self.deadline:g}"
        query = "?" + urllib.parse.urlencode(fields, safe="/") if fields else ""
        return (f"{TLS_SCHEME if self.tls else SCHEME}{members}"
                f"{'' if self.prefix == DEFAULT_PREFIX else self.prefix}{query}")

    def credentials(self) -> Any:
        """gRPC channel credentials for ``etcds://`` (None for plain ``etcd://``). Raises
        ConfigError when a file cannot be read."""
        if not self.tls:
            return None
        import grpc

        def read(path: str) -> bytes | None:
            if not path:
                return None
            try:
                return Path(path).read_bytes()
            except OSError as exc:
                raise ConfigError(f"--store {self}: cannot read {path}: "
                                  f"{exc.strerror or exc}") from None

        return grpc.ssl_channel_credentials(root_certificates=read(self.ca),
                                            private_key=read(self.key),
                                            certificate_chain=read(self.cert))


MAX_DEADLINE = 600.0


def _query(text: str, query: str, tls: bool) -> tuple[dict[str, str], float]:
    """``ca``, ``cert`` and ``key`` of the query, and its ``deadline``. Raises ConfigError."""
    files: dict[str, str] = {}
    deadline: float | None = None
    for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if name == "deadline" and deadline is None:
            deadline = _seconds(text, value)
            continue
        if name not in TLS_FILES or name in files or not value:
            raise ConfigError(f"--store {text!r}: {name}={value!r} is not one of "
                              "ca=FILE, cert=FILE, key=FILE, deadline=SECONDS (each once)")
        files[name] = value
    if files and not tls:
        raise ConfigError(f"--store {text!r}: ca, cert and key are for TLS: use etcds://")
    if bool(files.get("cert")) != bool(files.get("key")):
        raise ConfigError(f"--store {text!r}: a client certificate needs both cert= and key=")
    return files, DEADLINE if deadline is None else deadline


def _seconds(text: str, value: str) -> float:
    """``deadline=``'s value: seconds, more than 0 and at most ``MAX_DEADLINE``."""
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not 0 < seconds <= MAX_DEADLINE:  # also refuses nan
        raise ConfigError(f"--store {text!r}: deadline={value!r} is not a number of seconds "
                          f"above 0 and at most {MAX_DEADLINE:g}")
    return seconds


class EtcdClient:
    """Synchronous calls into etcd, failing over between members. ``close`` when done."""

    def __init__(self, spec: EtcdSpec, *, rpc_timeout: float = RPC_TIMEOUT) -> None:
        import aetcd

        self.spec = spec
        self.rpc_timeout = rpc_timeout
        self.deadline = spec.deadline  # the store URL's ?deadline=, else DEADLINE
        self._errors: tuple[type[BaseException], ...] = (
            aetcd.ClientError, asyncio.TimeoutError, concurrent.futures.TimeoutError)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever,
                                        name="ipamx-spy-etcd", daemon=True)
        self._thread.start()
        credentials = spec.credentials()
        make = aetcd.Client if credentials is None else _tls_client(credentials)
        self._clients = [make(host=h, port=p, timeout=rpc_timeout, options=GRPC_OPTIONS)
                         for h, p in spec.endpoints]
        self._current = 0

    def call(self, make: Callable[[Any], Awaitable[T]]) -> T:
        """Run ``make(client)`` on a live member. Raises StoreUnavailable past the deadline,
        or at once when every member refused the connection."""
        deadline = time.monotonic() + self.deadline
        pause = 0.05
        last = ""
        while True:
            refused = 0
            for _ in range(len(self._clients)):
                index = self._current
                try:
                    return self._run(make(self._clients[index]))
                except self._errors as exc:
                    last = f"{self._member(index)}: {_reason(exc)}"
                    refused += _refused(exc)
                    self._current = (index + 1) % len(self._clients)
                if time.monotonic() >= deadline:
                    break
            if refused == len(self._clients) or time.monotonic() + pause >= deadline:
                raise StoreUnavailable(f"etcd at {self.spec} is unreachable ({last}); "
                                       "nothing was changed")
            time.sleep(pause)
            pause = min(pause * 2, 0.5)

    def _run(self, coroutine: Awaitable[T]) -> T:
        async def bounded() -> T:
            return await asyncio.wait_for(coroutine, self.rpc_timeout + 0.5)

        future = asyncio.run_coroutine_threadsafe(bounded(), self._loop)
        try:
            return future.result(self.rpc_timeout + 1.0)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise

    def _member(self, index: int) -> str:
        host, port = self.spec.endpoints[index]
        return f"{host}:{port}"

    def close(self) -> None:
        """Close the connections and stop the loop thread (bounded)."""
        async def close_all() -> None:
            for client in self._clients:
                try:
                    await client.close()
                except Exception:  # noqa: BLE001 - closing a dead channel may raise anything
                    pass

        if self._loop.is_running():
            future = asyncio.run_coroutine_threadsafe(close_all(), self._loop)
            try:
                future.result(5)
            except (concurrent.futures.TimeoutError, Exception):  # noqa: BLE001
                future.cancel()
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
        if not self._loop.is_running():
            self._loop.close()


def _tls_client(credentials: Any) -> Any:
    """An ``aetcd.Client`` that opens a TLS channel. aetcd 1.0 opens only insecure channels
    (its ``connect`` calls ``grpc.aio.insecure_channel``), so this ``connect`` is aetcd's
    without the user/password step (not used here) and with ``secure_channel``."""
    import aetcd
    from aetcd import rpc, watcher

    class TlsClient(aetcd.Client):  # type: ignore[misc]
        async def connect(self) -> None:
            if self._connected.is_set():
                return
            target = f"{self._host}:{self._port}"
            self.channel = rpc.secure_channel(target, credentials,
                                              options=self._options.items())
            self.kvstub = rpc.KVStub(self.channel)
            self.clusterstub = rpc.ClusterStub(self.channel)
            self.leasestub = rpc.LeaseStub(self.channel)
            self.maintenancestub = rpc.MaintenanceStub(self.channel)
            self._watcher = watcher.Watcher(rpc.WatchStub(self.channel),
                                            timeout=self._timeout, metadata=self.metadata)
            self._connected.set()

    return TlsClient


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]


def _refused(exc: BaseException) -> int:
    text = str(exc).lower()
    return int("connection refused" in text or "failed to connect to all addresses" in text)


class EtcdLog:
    """One ``shared.Log`` under ``PREFIX/NAME/`` in etcd."""

    def __init__(self, client: EtcdClient, name: str) -> None:
        self.client = client
        self.name = name
        base = f"{client.spec.prefix}/{name}"
        self.head = f"{base}/head".encode()
        self.entries = f"{base}/log/".encode()
        self.entries_end = f"{base}/log0".encode()
        self.snapshots = f"{base}/snapshot/".encode()
        self.snapshots_end = f"{base}/snapshot0".encode()

    def key(self, seq: int) -> bytes:
        return self.entries + f"{seq:020d}".encode()

    def append(self, entry: Entry) -> list[Entry] | None:
        """See ``shared.Log.append``. Raises StoreUnavailable."""
        value = json.dumps(entry.to_json(), separators=(",", ":")).encode()
        previous = entry.seq - 1

        async def txn(client: Any) -> tuple[bool, list[Any]]:
            t = client.transactions
            condition = (t.version(self.head) == 0 if previous == 0
                         else t.value(self.head) == str(previous).encode())
            result: tuple[bool, list[Any]] = await client.transaction(
                compare=[condition],
                success=[t.put(self.head, str(entry.seq).encode()),
                         t.put(self.key(entry.seq), value)],
                failure=[t.get(self.key(entry.seq), self.entries_end)])
            return result

        succeeded, responses = self.client.call(txn)
        if succeeded:
            return None
        return self._decode(value for value, _meta in responses[0])

    def read_after(self, seq: int) -> list[Entry]:
        """See ``shared.Log.read_after``. Raises StoreUnavailable."""
        async def read(client: Any) -> list[bytes]:
            found = await client.get_range(self.key(seq + 1), self.entries_end)
            return [kv.value for kv in found]

        return self._decode(self.client.call(read))

    def read_snapshot(self) -> Snapshot | None:
        """See ``shared.Log.read_snapshot``. Raises StoreUnavailable, StateError."""
        async def read(client: Any) -> list[tuple[bytes, bytes]]:
            found = await client.get_range(self.snapshots, self.snapshots_end)
            return [(kv.key, kv.value) for kv in found]

        found = sorted(self.client.call(read))
        if not found:
            return None
        try:
            return Snapshot.from_json(json.loads(zlib.decompress(found[-1][1])))
        except (ValueError, KeyError, TypeError, zlib.error) as exc:
            raise StateError(f"etcd log {self.name} holds a damaged snapshot: {exc!r}") from exc

    def compact(self, snapshot: Snapshot, keep: int) -> None:
        """See ``shared.Log.compact``: one transaction. Raises StoreUnavailable."""
        value = zlib.compress(json.dumps(snapshot.to_json(), separators=(",", ":")).encode())
        key = self.snapshots + f"{snapshot.seq:020d}".encode()
        first_kept = max(1, snapshot.seq - keep + 1)

        async def txn(client: Any) -> None:
            t = client.transactions
            await client.transaction(
                compare=[], success=[t.put(key, value),
                                     t.delete(self.entries, self.key(first_kept)),
                                     t.delete(self.snapshots, key)], failure=[])

        self.client.call(txn)

    def _decode(self, values: Any) -> list[Entry]:
        entries = []
        for value in values:
            try:
                entries.append(Entry.from_json(json.loads(value)))
            except (ValueError, KeyError, TypeError) as exc:
                raise StateError(f"etcd log {self.name} holds a damaged entry: {exc!r}") from exc
        return sorted(entries, key=lambda e: e.seq)


def host_names(client: EtcdClient) -> list[str]:
    """The hosts that have a local-space log in the cluster. Raises StoreUnavailable."""
    start = f"{client.spec.prefix}/hosts/".encode()
    end = f"{client.spec.prefix}/hosts0".encode()

    async def read(c: Any) -> list[bytes]:
        found = await c.get_range(start, end)
        return [kv.key for kv in found]

    names = set()
    for key in client.call(read):
        name, _, rest = key[len(start):].decode("utf-8", "replace").partition("/")
        if rest == "head":
            names.add(name)
    return sorted(names)
