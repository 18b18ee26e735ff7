"""What every per-exchange check looks at, computed once per exchange."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

from ipamx_spy import dockerd
from ipamx_spy.dockerd import gojson
from ipamx_spy.dockerd.endpoints import BY_NAME, EXTENSION_BY_NAME, ExtensionRow, Row
from ipamx_spy.recording import Exchange
from ipamx_spy.records import AnsweredBy

JSON = Any
AnyRow = Row | ExtensionRow


class Seen(Protocol):
    """What the rules across exchanges and the endpoint-specific checks read of an exchange:
    a full ``CheckContext`` or, on the fast lane, a ``PlainContext``."""

    @property
    def exchange(self) -> Exchange: ...
    @property
    def seq(self) -> int: ...
    @property
    def endpoint(self) -> str: ...
    @property
    def row(self) -> AnyRow | None: ...
    @property
    def request(self) -> JSON: ...
    @property
    def request_map(self) -> dict[str, JSON]: ...
    @property
    def value(self) -> dict[str, JSON]: ...
    @property
    def plugin_error(self) -> str | None: ...


class _Exchanged:
    """What both contexts read straight from their exchange."""

    __slots__ = ()
    exchange: Exchange
    request: JSON

    @property
    def seq(self) -> int:
        return self.exchange.seq

    @property
    def endpoint(self) -> str:
        return self.exchange.endpoint

    @property
    def request_map(self) -> dict[str, JSON]:
        value = self.request
        return value if isinstance(value, dict) else {}


@dataclass(slots=True)
class PlainContext(_Exchanged):
    """A plain exchange (``plain.plain``): a success whose decoded fields are ``value``."""

    exchange: Exchange
    row: Row
    value: dict[str, JSON]
    request: JSON
    plugin_error: None = None


@dataclass(frozen=True)
class CheckContext(_Exchanged):
    """One exchange as the checks see it."""

    exchange: Exchange
    major: int = 29

    @cached_property
    def row(self) -> AnyRow | None:
        name = self.exchange.endpoint
        return BY_NAME.get(name) or EXTENSION_BY_NAME.get(name)

    @property
    def request(self) -> JSON:
        return self.exchange.request.value

    @property
    def answered(self) -> bool:
        """An answer from the plugin itself (not one the proxy made up)."""
        return self.exchange.response is not None and self.exchange.answered_by == AnsweredBy.PLUGIN

    @property
    def status(self) -> int:
        response = self.exchange.response
        return 0 if response is None else response.status

    @cached_property
    def body(self) -> bytes:
        response = self.exchange.response
        return b"" if response is None else response.raw_body

    @cached_property
    def decoded(self) -> tuple[gojson.Decoded, str | None]:
        """A 200 body decoded by Go's rules, and Go's decode error (empty for other
        statuses)."""
        decoded = self.verdict.decoded
        if decoded is None:
            return gojson.Decoded(), None
        return decoded, decoded.error

    @property
    def plugin_error(self) -> str | None:
        """The error dockerd's plugin layer returns (status, decoding, the error field),
        before dockerd's own checks of the values."""
        return self.verdict.plugin_error

    @cached_property
    def verdict(self) -> dockerd.Verdict:
        """What dockerd makes of the answer (the protocol authority's verdict)."""
        response = self.exchange.response
        headers = response.headers if response is not None else None
        return dockerd.read_answer(self.endpoint, self.status, headers, self.body,
                                   dockerd.DockerVersion(self.major), request=self.request_map,
                                   role=self.exchange.address_role)

    def consequence(self) -> str:
        """What the failure does, in words: fails the docker command, or only logged."""
        row = self.row
        verdict = self.verdict
        words = row.failure_sentence_of(verdict.role) if isinstance(row, dockerd.Row) \
            else "the call fails"
        if verdict.outcome is dockerd.Outcome.LOGGED:
            line = verdict.shown_log_line
            return (f"dockerd only logs it and carries on ({words})"
                    + (f"; it logs: {line}" if line else ""))
        return f"{words} ({self.verdict.cli_text or self.verdict.error})"

    @property
    def value(self) -> dict[str, JSON]:
        return self.decoded[0].fields
