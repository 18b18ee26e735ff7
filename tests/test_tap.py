from __future__ import annotations

import pytest

from ipamx_spy import tap

REQUEST = (
    b"POST /IpamDriver.RequestPool HTTP/1.1\r\n"
    b"Host: \r\n"
    b"User-Agent: Go-http-client/1.1\r\n"
    b"Content-Length: 90\r\n"
    b"Accept: application/vnd.docker.plugins.v1.2+json\r\n"
    b"\r\n"
    b'{"AddressSpace":"probeLocal","Pool":"10.225.0.0/24","SubPool":"","Options":{},"V6":false}\n'
)
RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 3\r\n\r\n{}\n"
)


def feeds(data: bytes) -> list[list[bytes]]:
    """The same bytes whole, one byte at a time, and in two uneven pieces (h11's tr())."""
    return [[data], [data[i:i + 1] for i in range(len(data))], [data[:7], data[7:]]]


def collect(t: tap._Tap, pieces: list[bytes]) -> list[tap.Result]:
    results = []
    for piece in pieces:
        t.feed(piece)
        while True:
            result = t.next_message()
            if result is tap.NEED_DATA:
                break
            results.append(result)
            if isinstance(result, tap.WireMessage) and isinstance(t, tap.RequestTap):
                t.answered(keep_alive=True)
            elif isinstance(result, tap.WireMessage) and isinstance(t, tap.ResponseTap):
                t.reusable()
                t.expect("POST")
            else:
                return results
    return results


@pytest.mark.parametrize("pieces", feeds(REQUEST + REQUEST))
def test_request_boundaries_whole_bytewise_and_pipelined(pieces: list[bytes]) -> None:
    messages = collect(tap.RequestTap(), pieces)
    assert len(messages) == 2
    for message in messages:
        assert isinstance(message, tap.WireMessage)
        assert message.raw == REQUEST
        assert message.headers[0] == ("Host", "")
        assert message.body.endswith(b"\n")
        assert message.target == "/IpamDriver.RequestPool"


def test_trailing_partial_request_stays_pending() -> None:
    t = tap.RequestTap()
    t.feed(REQUEST + REQUEST[:20])
    first = t.next_message()
    assert isinstance(first, tap.WireMessage) and first.raw == REQUEST
    t.answered(keep_alive=True)
    assert t.next_message() is tap.NEED_DATA
    assert t.pending == REQUEST[:20]


def test_header_casing_and_order_are_kept() -> None:
    raw = b"POST /x HTTP/1.1\r\nhOsT: a\r\nX-Two: 2\r\nX-One: 1\r\nContent-Length: 0\r\n\r\n"
    t = tap.RequestTap()
    t.feed(raw)
    message = t.next_message()
    assert isinstance(message, tap.WireMessage)
    assert [k for k, _ in message.headers] == ["hOsT", "X-Two", "X-One", "Content-Length"]


@pytest.mark.parametrize("pieces", feeds(RESPONSE + RESPONSE))
def test_response_boundaries(pieces: list[bytes]) -> None:
    t = tap.ResponseTap()
    t.expect("POST")
    messages = collect(t, pieces)
    assert [m.raw for m in messages if isinstance(m, tap.WireMessage)] == [RESPONSE, RESPONSE]


def test_chunked_response_body_is_joined() -> None:
    raw = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n")
    t = tap.ResponseTap()
    t.expect("POST")
    t.feed(raw)
    message = t.next_message()
    assert isinstance(message, tap.WireMessage)
    assert message.body == b'{"a":1}' and message.raw == raw


def test_read_until_close_response_is_not_reusable() -> None:
    t = tap.ResponseTap()
    t.expect("POST")
    t.feed(b"HTTP/1.1 200 OK\r\n\r\n{}")
    assert t.next_message() is tap.NEED_DATA
    t.feed(b"")
    message = t.next_message()
    assert isinstance(message, tap.WireMessage) and message.body == b"{}"
    assert not t.reusable()


def test_body_over_limit_is_refused_from_content_length() -> None:
    t = tap.RequestTap(max_body=10)
    t.feed(b"POST /x HTTP/1.1\r\nHost: \r\nContent-Length: 11\r\n\r\n")
    result = t.next_message()
    assert isinstance(result, tap.TapError) and result.status == 413


def test_chunked_body_over_limit_is_refused() -> None:
    t = tap.RequestTap(max_body=4)
    t.feed(b"POST /x HTTP/1.1\r\nHost: \r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
    result = t.next_message()
    assert isinstance(result, tap.TapError) and result.status == 413


@pytest.mark.parametrize("garbage", [b"GARBAGE\r\n\r\n", b"POST /x HTTP/1.1\r\nBad Header\r\n\r\n",
                                     b"POST /x HTTP/1.1\r\nHost: \r\nContent-Length: x\r\n\r\n"])
def test_malformed_request(garbage: bytes) -> None:
    t = tap.RequestTap()
    t.feed(garbage)
    result = t.next_message()
    assert isinstance(result, tap.TapError) and result.status == 400


def test_clean_close_between_messages_and_close_mid_message() -> None:
    t = tap.RequestTap()
    t.feed(b"")
    assert t.next_message() is tap.CLOSED
    t = tap.RequestTap()
    t.feed(REQUEST[:30])
    t.feed(b"")
    result = t.next_message()
    assert isinstance(result, tap.TapError)


def test_response_closed_before_answer_is_closed() -> None:
    t = tap.ResponseTap()
    t.expect("POST")
    t.feed(b"")
    assert t.next_message() is tap.CLOSED


def test_response_not_http() -> None:
    t = tap.ResponseTap()
    t.expect("POST")
    t.feed(b"<html><body>oops</body></html>\r\n\r\n")
    assert isinstance(t.next_message(), tap.TapError)
