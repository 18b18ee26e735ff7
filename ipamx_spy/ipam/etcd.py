"""The shared allocator's logs in etcd (v3 API, through the ``aetcd`` asyncio client).

Theory of operation. ``EtcdClient`` owns one private event loop in a daemon thread, and one
``aetcd.Client`` per cluster member on it; the allocator (synchronous, called off the relay's
event loop) submits coroutines with ``call`` and waits for them with a bound. A member that
refuses or times out is skipped for the next one; a member without a leader (an election after
a member died) is retried with a short backoff until ``deadline`` seconds have passed. When
every member refused the connection, ``call`` gives up at once: dockerd gets a clear error
instead of waiting for a cluster that is not there.

``EtcdLog`` keeps one ``shared.Log`` under a key prefix: ``PREFIX/head`` holds the number of
the last entry, ``PREFIX/log/<20-digit seq>`` each entry as JSON. An append is one
transaction: *if* ``head`` is still ``seq - 1``, put ``head`` and the entry; *else* return
``head`` and every entry after ``seq - 1`` (one round trip either way).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from .errors import ConfigError
from .shared import Entry, StoreUnavailable

T = TypeVar("T")
SCHEME = "etcd://"
DEFAULT_PREFIX = "/ipamx-spy/v1"
RPC_TIMEOUT = 1.5
DEADLINE = 5.0
GRPC_OPTIONS = {"grpc.initial_reconnect_backoff_ms": 100, "grpc.min_reconnect_backoff_ms": 100,
                "grpc.max_reconnect_backoff_ms": 1000, "grpc.enable_retries": 0}


@dataclass(frozen=True, kw_only=True)
class EtcdSpec:
    """``--store etcd://HOST:PORT[,HOST:PORT...][/PREFIX]``."""

    endpoints: tuple[tuple[str, int], ...]
    prefix: str = DEFAULT_PREFIX

    @classmethod
    def parse(cls, text: str) -> EtcdSpec:
        """Raises ConfigError naming what is wrong."""
        if not text.startswith(SCHEME):
            raise ConfigError(f"--store {text!r}: expected etcd://HOST:PORT[,HOST:PORT...]")
        rest = text[len(SCHEME):]
        hosts, slash, path = rest.partition("/")
        endpoints = []
        for item in hosts.split(","):
            host, colon, port = item.rpartition(":")
            if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ConfigError(f"--store {text!r}: {item!r} is not HOST:PORT")
            endpoints.append((host.strip("[]"), int(port)))
        prefix = "/" + path.strip("/") if slash and path.strip("/") else DEFAULT_PREFIX
        return cls(endpoints=tuple(endpoints), prefix=prefix)

    def __str__(self) -> str:
        members = ",".join(f"{h}:{p}" for h, p in self.endpoints)
        return f"{SCHEME}{members}{'' if self.prefix == DEFAULT_PREFIX else self.prefix}"


class EtcdClient:
    """Synchronous calls into etcd, failing over between members. ``close`` when done."""

    def __init__(self, spec: EtcdSpec, *, rpc_timeout: float = RPC_TIMEOUT,
                 deadline: float = DEADLINE) -> None:
        import aetcd

        self.spec = spec
        self.rpc_timeout = rpc_timeout
        self.deadline = deadline
        self._errors: tuple[type[BaseException], ...] = (
            aetcd.ClientError, asyncio.TimeoutError, concurrent.futures.TimeoutError)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever,
                                        name="ipamx-spy-etcd", daemon=True)
        self._thread.start()
        self._clients = [aetcd.Client(host=h, port=p, timeout=rpc_timeout,
                                      options=GRPC_OPTIONS)
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

    def _decode(self, values: Any) -> list[Entry]:
        from .errors import StateError

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
