"""One whole message framed from its bytes, as the relay frames it (tests that drive a
``ProxySession`` without sockets)."""

from __future__ import annotations

from ipamx_spy import tap


def framed(raw: bytes, side: type[tap.RequestTap] | type[tap.ResponseTap]) -> tap.WireMessage:
    """``raw`` framed by a fresh ``side`` tap (an answer as one to a POST)."""
    framing = side()
    if isinstance(framing, tap.ResponseTap):
        framing.expect("POST")
    framing.feed(raw)
    message = framing.next_message()
    assert isinstance(message, tap.WireMessage)
    return message
