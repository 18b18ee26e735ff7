"""Mock mode, sans-IO: matching requests to the recording, bindings in reverse, misses."""

from __future__ import annotations

import json
from pathlib import Path

from brokenplugin import record, request_message, talk_calls

from ipamx_spy.app import Reply
from ipamx_spy.mock import MockPlugin
from ipamx_spy.recording import Exchange, Message, encode_body, load

GOLDEN = Path(__file__).parent / "golden" / "synthetic.jsonl"
POOL_ID = "LocalDefault/10.4.4.0/24"


def mock_of_talk() -> MockPlugin:
    from brokenplugin import mini_plugin

    return MockPlugin(exchanges=record(mini_plugin(), talk_calls()))


def ask(mock: MockPlugin, endpoint: str, body: object = None) -> Reply:
    raw = b"" if body is None else json.dumps(body).encode()
    return mock.handle(endpoint, raw)


def test_answers_with_the_recorded_status_content_type_and_bytes() -> None:
    exchanges = load(GOLDEN).exchanges
    mock = MockPlugin(exchanges=exchanges)
    for exchange in exchanges[:8]:
        assert exchange.response is not None
        reply = mock.handle(exchange.endpoint, exchange.request.raw_body)
        assert reply.status == exchange.response.status
        assert reply.body == exchange.response.raw_body
        assert reply.content_type == exchange.response.header("Content-Type")
    assert not mock.misses


def test_odd_recorded_bytes_and_content_types_are_reproduced() -> None:
    html = b"<html>broken</html>"
    spaced = b'{"PoolID": "p",  "Pool": "10.1.0.0/24"}'
    exchanges = [
        Exchange(seq=1, conn=1, t=0, endpoint="IpamDriver.RequestPool",
                 request=request_message("IpamDriver.RequestPool", {"Pool": "10.1.0.0/24"}),
                 response=Message(status=200, headers=(("Content-Type", "text/plain"),),
                                  body=encode_body(spaced))),
        Exchange(seq=2, conn=1, t=0, endpoint="IpamDriver.ReleasePool",
                 request=request_message("IpamDriver.ReleasePool", {"PoolID": "p"}),
                 response=Message(status=503, headers=(("Content-Type", "text/html"),),
                                  body=encode_body(html))),
    ]
    mock = MockPlugin(exchanges=exchanges)
    first = ask(mock, "IpamDriver.RequestPool", {"Pool": "10.1.0.0/24"})
    assert (first.status, first.content_type, first.body) == (200, "text/plain", spaced)
    second = ask(mock, "IpamDriver.ReleasePool", {"PoolID": "p"})
    assert (second.status, second.content_type, second.body) == (503, "text/html", html)


def test_matching_ignores_key_order_spacing_and_case() -> None:
    mock = mock_of_talk()
    body = b'{ "poolid": "LocalDefault/10.4.4.0/24", "Options": null, "Address": "10.4.4.21" }'
    reply = mock.handle("IpamDriver.RequestAddress", body)
    assert reply.value == {"Address": "10.4.4.21/24", "Data": {}}


def test_unused_exchanges_are_taken_in_recorded_order() -> None:
    mock = mock_of_talk()
    same = {"PoolID": POOL_ID, "Address": "", "Options": None}
    assert ask(mock, "IpamDriver.RequestAddress", same).value["Address"] == "10.4.4.2/24"
    assert [s.recorded_seq for s in mock.served] == [7]


def test_a_used_up_call_that_changes_state_is_a_miss_naming_the_nearest() -> None:
    mock = mock_of_talk()
    wanted = {"PoolID": POOL_ID, "Address": "10.4.4.21", "Options": None}
    assert ask(mock, "IpamDriver.RequestAddress", wanted).status == 200
    again = ask(mock, "IpamDriver.RequestAddress", wanted)
    assert again.status == 500
    assert again.value["Err"] == ("ipamx-spy mock: no recorded IpamDriver.RequestAddress matches "
                                  "this request; the matching recorded call #6 was already "
                                  "answered")
    other = ask(mock, "IpamDriver.RequestAddress", {**wanted, "Address": "10.4.4.99"})
    # as near as #6, and not used yet: the nearest
    assert other.value["Err"].endswith('nearest is #7: Address: recorded "", got "10.4.4.99"')
    assert len(mock.misses) == 2


def test_read_only_calls_may_be_answered_again() -> None:
    mock = mock_of_talk()
    first = ask(mock, "IpamDriver.GetDefaultAddressSpaces")
    assert ask(mock, "IpamDriver.GetDefaultAddressSpaces").body == first.body
    assert not mock.misses


def test_unknown_endpoint_is_a_miss() -> None:
    reply = ask(mock_of_talk(), "NetworkDriver.Join", {"NetworkID": "n"})
    assert reply.status == 500
    assert "the recording has no NetworkDriver.Join call" in reply.value["Err"]


def endpoint_exchanges() -> list[Exchange]:
    def net(seq: int, endpoint: str, request: object, answer: object) -> Exchange:
        raw = (json.dumps(answer) + "\n").encode()
        return Exchange(seq=seq, conn=1, t=0, endpoint=endpoint,
                        request=request_message(endpoint, request),
                        response=Message(status=200, headers=(), body=encode_body(raw)))

    return [
        net(1, "NetworkDriver.CreateEndpoint", {"NetworkID": "n1", "EndpointID": "e1",
                                                "Interface": {"Address": "10.4.4.2/24"}},
            {"Interface": None}),
        net(2, "NetworkDriver.Join", {"NetworkID": "n1", "EndpointID": "e1",
                                      "SandboxKey": "/var/run/docker/netns/aaaa"},
            {"InterfaceName": {"SrcName": "veth-e1", "DstPrefix": "eth"}, "Comment": "e1"}),
        net(3, "NetworkDriver.Leave", {"NetworkID": "n1", "EndpointID": "e1"}, {}),
    ]


def test_ids_dockerd_makes_up_are_bound_and_must_stay_consistent() -> None:
    mock = MockPlugin(exchanges=endpoint_exchanges())
    created = ask(mock, "NetworkDriver.CreateEndpoint", {
        "NetworkID": "N9", "EndpointID": "E9", "Interface": {"Address": "10.4.4.2/24"}})
    assert created.status == 200
    joined = ask(mock, "NetworkDriver.Join", {"NetworkID": "N9", "EndpointID": "E9",
                                              "SandboxKey": "/var/run/docker/netns/bbbb"})
    assert joined.value["Comment"] == "E9"  # the recorded answer, rewritten with the live ID
    wrong = ask(mock, "NetworkDriver.Leave", {"NetworkID": "N9", "EndpointID": "E7"})
    assert wrong.status == 500
    assert 'EndpointID: recorded "E9", got "E7"' in wrong.value["Err"]
    assert ask(mock, "NetworkDriver.Leave", {"NetworkID": "N9", "EndpointID": "E9"}).status \
        == 200


def test_an_exchange_the_plugin_never_answered_is_explained() -> None:
    mock = MockPlugin(exchanges=load(GOLDEN).exchanges)
    reply = ask(mock, "IpamDriver.ReleaseAddress", {"PoolID": POOL_ID, "Address": "10.4.4.2"})
    assert reply.status == 500
    assert "in the recording the plugin gave no answer here (#9" in reply.value["Err"]


def test_empty_body_retry_matches_the_recorded_empty_request() -> None:
    mock = MockPlugin(exchanges=load(GOLDEN).exchanges)
    reply = mock.handle("IpamDriver.ReleaseAddress", b"")
    assert reply.status == 400 and [s.recorded_seq for s in mock.served] == [10]
    assert [e.seq for e in mock.unused()][:3] == [1, 2, 3]
