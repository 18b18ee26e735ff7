"""The plugin side of one relayed connection: dial lazily, send raw bytes, frame the answer."""

from __future__ import annotations

import asyncio
import contextlib

from .. import tap
from ..address import Address
from ..recording import Fault


class UpstreamFault(Exception):
    """The plugin could not give an answer; ``fault`` says why (always the plugin side)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.fault = Fault(side="plugin", kind=kind, message=message)


class Upstream:
    """One keep-alive connection to the plugin, opened on first use and after a close."""

    def __init__(self, address: Address, *, timeout: float | None, max_body: int) -> None:
        self.address = address
        self.timeout = timeout
        self.max_body = max_body
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._tap: tap.ResponseTap | None = None

    async def _dial(self) -> None:
        try:
            if self.address.kind == "unix":
                self._reader, self._writer = await asyncio.open_unix_connection(self.address.path)
            else:
                self._reader, self._writer = await asyncio.open_connection(
                    self.address.host, self.address.port)
        except OSError as exc:
            raise UpstreamFault("unreachable", f"upstream {self.address}: "
                                f"{exc.strerror or exc}") from exc
        self._tap = tap.ResponseTap(self.max_body)

    async def exchange(self, raw_request: bytes, method: str) -> tap.Message:
        """Send one request and return the complete answer. Raises UpstreamFault."""
        if self._writer is None:
            await self._dial()
        assert self._writer is not None and self._tap is not None
        try:
            self._writer.write(raw_request)
            self._tap.expect(method)
            if self.timeout is None:
                return await self._read_answer()
            return await asyncio.wait_for(self._read_answer(), self.timeout)
        except TimeoutError as exc:
            await self.close()
            raise UpstreamFault("timeout", f"upstream {self.address}: no answer within "
                                f"{self.timeout:g} s (--upstream-timeout)") from exc
        except OSError as exc:
            await self.close()
            raise UpstreamFault("closed", f"upstream {self.address}: "
                                f"{exc.strerror or exc}") from exc
        except UpstreamFault:
            await self.close()
            raise

    async def _read_answer(self) -> tap.Message:
        assert self._reader is not None and self._tap is not None
        while True:
            result = self._tap.next_message()
            if isinstance(result, tap.Message):
                if not (result.keep_alive and self._tap.reusable()):
                    await self.close()
                return result
            if isinstance(result, tap.TapError):
                kind = "too-large" if result.status == 413 else "malformed"
                raise UpstreamFault(kind, f"upstream {self.address}: malformed answer: "
                                    f"{result.message}")
            if result is tap.CLOSED:
                raise UpstreamFault("closed", f"upstream {self.address}: closed the "
                                    "connection without answering")
            self._tap.feed(await self._reader.read(65536))

    async def close(self) -> None:
        writer, self._writer, self._reader, self._tap = self._writer, None, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
