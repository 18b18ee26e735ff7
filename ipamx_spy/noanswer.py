"""Why a plugin gave no usable answer: one enum for the proxy, replay, the emulator and the client.

Each layer raises its own exception (``client.PluginNoAnswer``, ``aio.upstream.UpstreamNoAnswer``,
``replay.target.ReplayNoAnswer``, ``emulator.driver.EmulatorNoAnswer``), and each carries a
``NoAnswerKind``, so no caller recovers the kind from the exception's text. The value is the
``kind`` written into the recording's ``fault`` record. What dockerd makes of a call without an
answer is the authority's (``dockerd.read_no_answer``, fed ``kind.dockerd``).
"""

from __future__ import annotations

from enum import StrEnum

from .dockerd import NoAnswer
from .records import FaultKind


class NoAnswerKind(StrEnum):
    UNREACHABLE = "unreachable"
    """The plugin could not be dialled (refused, no socket): nothing was sent."""
    CLOSED = "closed"
    """The request was sent; the plugin closed the connection without a complete answer."""
    TIMEOUT = "timeout"
    """The request was sent; no answer came within the timeout."""
    MALFORMED = "malformed"
    """The plugin answered with bytes that are not an HTTP/1.1 response."""
    TOO_LARGE = "too-large"
    """The answer is larger than the limit ipamx-spy keeps."""
    CRASH = "crash"
    """An in-process plugin app raised instead of answering."""

    @property
    def sent(self) -> bool:
        """Whether the request reached the plugin (dockerd retries only what it could not send)."""
        return self is not NoAnswerKind.UNREACHABLE

    @property
    def fault(self) -> FaultKind:
        """The kind of the fault recorded for this missing answer (the same word)."""
        return FaultKind(self.value)

    @property
    def dockerd(self) -> NoAnswer:
        """The authority's input: refused (nothing sent) or closed (sent, nothing usable back)."""
        return NoAnswer.CLOSED if self.sent else NoAnswer.REFUSED
