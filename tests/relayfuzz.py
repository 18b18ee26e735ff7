"""Fuzzing the real relay: mutated dockerd requests and mutated plugin answers.

Shared by ``tests/test_fuzz_relay.py`` (Hypothesis, a bounded number of examples) and
``scripts/fuzz.py`` (100,000+ random cases on demand). The seeds are the real requests and
answers of ``recordings/*.jsonl``; a mutation is a list of edits (``Edit``) applied in order.

A case passes when the docker side got an HTTP answer (for any input that is not empty or only
line breaks), the spy still answers a good request afterwards, and nothing escaped as a
traceback (asyncio's exception handler, a thread's excepthook, a ``crash`` fault).
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fakeplugin import ScriptedPlugin, ok
from spyharness import SpyThread

from ipamx_spy import recording, tap
from ipamx_spy.address import Address
from ipamx_spy.aio.relay import RelayOptions
from ipamx_spy.client import docker_request

ROOT = Path(__file__).resolve().parent.parent
GOOD = docker_request("IpamDriver.GetCapabilities", b"")
GOOD_ANSWER = ok({"RequiresMACAddress": False})
INTERESTING = [b"\r\n", b"\r\n\r\n", b":", b" ", b"\x00", b"\xff", b"Content-Length: 99\r\n",
               b"Transfer-Encoding: chunked\r\n", b"Connection: close\r\n", b"0\r\n\r\n",
               b"HTTP/1.1 200 OK\r\n", b"\\ud800", b"[" * 1200, b"CONNECT x:1 HTTP/1.1\r\n",
               b"GET / HTTP/1.1\r\n", b"-1", b"99999999999999999999"]


def seeds() -> tuple[list[bytes], list[bytes]]:
    """The raw requests and answers of every recording in ``recordings/``."""
    requests: dict[bytes, None] = {}
    answers: dict[bytes, None] = {}
    for path in sorted((ROOT / "recordings").glob("*.jsonl")):
        for exchange in recording.load(path).exchanges:
            requests[exchange.request.raw()] = None
            if exchange.response is not None:
                answers[exchange.response.raw()] = None
    return list(requests), list(answers)


@dataclass(frozen=True)
class Edit:
    """One change to a message: ``kind`` at ``position`` (a fraction of the length)."""

    kind: str  # flip, insert, delete, duplicate, truncate, interesting
    position: float
    size: int
    data: bytes = b""


KINDS = ("flip", "insert", "delete", "duplicate", "truncate", "interesting")


def mutate(base: bytes, edits: list[Edit]) -> bytes:
    data = bytearray(base)
    for edit in edits:
        at = min(len(data), int(edit.position * len(data)))
        if edit.kind == "flip" and data:
            at = min(at, len(data) - 1)
            data[at] ^= 1 << (edit.size % 8)
        elif edit.kind == "insert":
            data[at:at] = edit.data
        elif edit.kind == "delete":
            del data[at:at + edit.size]
        elif edit.kind == "duplicate":
            data[at:at] = data[at:at + edit.size]
        elif edit.kind == "truncate":
            del data[at:]
        elif edit.kind == "interesting":
            data[at:at] = INTERESTING[edit.size % len(INTERESTING)]
    return bytes(data)


@dataclass
class Tally:
    cases: int = 0
    unanswered: int = 0
    tracebacks: int = 0
    crashes: int = 0
    examples: list[str] = field(default_factory=list)

    def fail(self, what: str, data: bytes) -> None:
        if len(self.examples) < 5:
            self.examples.append(f"{what}: {data[:200]!r}")


class _Tracebacks(logging.Handler):
    def __init__(self, tally: Tally) -> None:
        super().__init__(logging.ERROR)
        self.tally = tally

    def emit(self, record: logging.LogRecord) -> None:
        self.tally.tracebacks += 1
        self.tally.fail("traceback", record.getMessage().encode())


class MutablePlugin(ScriptedPlugin):
    """A plugin that answers each request with ``self.answer`` and then closes."""

    def __init__(self, path: Path) -> None:
        self.answer = GOOD_ANSWER
        super().__init__(path, self._serve)

    def _serve(self, sock: socket.socket, _n: int) -> None:
        requests = tap.RequestTap()
        sock.settimeout(10)
        while (result := requests.next_message()) is tap.NEED_DATA:
            requests.feed(sock.recv(65536))
        if isinstance(result, tap.WireMessage):
            answer = GOOD_ANSWER if result.target == "/IpamDriver.GetCapabilities" \
                else self.answer
            sock.sendall(answer)


class Fuzzer:
    """A running spy in front of a ``MutablePlugin``, and the checks of one case."""

    def __init__(self, directory: Path) -> None:
        self.tally = Tally()
        self.plugin = MutablePlugin(directory / "plugin.sock")
        upstream = Address(kind="unix", path=str(self.plugin.path))
        self.spy = SpyThread(directory / "spy.sock",
                             RelayOptions(upstream=upstream, app=None, upstream_timeout=10.0,
                                          header_timeout=2.0),
                             record=directory / "rec.jsonl")
        self.listen = directory / "spy.sock"
        self._handler = _Tracebacks(self.tally)
        self._old_hook = threading.excepthook

    def start(self) -> Fuzzer:
        logging.getLogger("asyncio").addHandler(self._handler)

        def hook(args: threading.ExceptHookArgs) -> None:
            self.tally.tracebacks += 1
            self.tally.fail("thread traceback", repr(args.exc_value).encode())

        threading.excepthook = hook
        self.spy.start()
        return self

    def stop(self) -> Tally:
        self.spy.stop()
        self.plugin.close()
        logging.getLogger("asyncio").removeHandler(self._handler)
        threading.excepthook = self._old_hook
        self.tally.crashes = sum(
            1 for e in recording.load(self.listen.parent / "rec.jsonl").exchanges
            if e.fault is not None and e.fault.kind == "crash")
        return self.tally

    def _send(self, raw: bytes) -> bytes:
        sock = socket.socket(socket.AF_UNIX)
        sock.settimeout(30)
        try:
            sock.connect(str(self.listen))
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
            got = b""
            while chunk := sock.recv(65536):
                got += chunk
            return got
        except OSError:
            return b""
        finally:
            sock.close()

    def request_case(self, raw: bytes) -> bool:
        """Send a (mutated) request; True when it was answered as it must be."""
        self.tally.cases += 1
        self.plugin.answer = GOOD_ANSWER
        got = self._send(raw)
        ok_ = got.startswith(b"HTTP/1.1 ") or not raw.strip(b"\r\n")
        if not ok_:
            self.tally.unanswered += 1
            self.tally.fail("unanswered request", raw)
        return ok_ and self.still_serving()

    def answer_case(self, answer: bytes, request: bytes) -> bool:
        """Have the plugin send a (mutated) answer to a good request."""
        self.tally.cases += 1
        self.plugin.answer = answer
        got = self._send(request)
        if not got:
            self.tally.unanswered += 1
            self.tally.fail("unanswered (plugin answer)", answer)
            return False
        return self.still_serving()

    def still_serving(self) -> bool:
        got = self._send(GOOD)
        if got.startswith(b"HTTP/1.1 200 "):
            return True
        self.tally.unanswered += 1
        self.tally.fail("the spy stopped serving", got)
        return False


@contextmanager
def running(directory: Path) -> Iterator[Fuzzer]:
    fuzzer = Fuzzer(directory).start()
    try:
        yield fuzzer
    finally:
        fuzzer.stop()
