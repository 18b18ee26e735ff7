"""Redaction rules: parsing, what they reach, and what they must never leave behind."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ipamx_spy import recording as rec
from ipamx_spy.recording import Exchange, Message, encode_body, go_json
from ipamx_spy.redact import (
    REDACTED,
    RedactionRuleError,
    parse_rule,
    parse_rules,
    redact_exchange_record,
    redact_recording,
    redact_values,
    scrub,
    split_path,
)

MAC = "com.docker.network.endpoint.macaddress"


def record(request: Any, response: Any = None, *, raw_response: bytes | None = None,
           endpoint: str = "IpamDriver.RequestAddress") -> dict[str, Any]:
    body = (go_json(request) + "\n").encode()
    answer = raw_response if raw_response is not None else (go_json(response or {}) + "\n").encode()
    return Exchange(
        seq=1, conn=1, t=0.5, endpoint=endpoint,
        request=Message(method="POST", target=f"/{endpoint}",
                        headers=(("Host", "plugin.moby.localhost"),
                                 ("Content-Length", str(len(body)))),
                        body=encode_body(body)),
        response=Message(status=200, reason="OK",
                         headers=(("Content-Type", "application/json"),
                                  ("Content-Length", str(len(answer))),
                                  ("X-Token", "s3cret")),
                         body=encode_body(answer)),
    ).to_json()


ADDRESS_REQUEST = {"PoolID": "LocalDefault/10.4.4.0/24", "Address": "10.4.4.21",
                   "Options": {MAC: "7a:1f:3c:00:12:9e", "com.docker.network.endpoint.name": "web"}}
ADDRESS_ANSWER = {"Address": "10.4.4.21/24", "Data": {}}


def body(result: dict[str, Any], side: str) -> Any:
    return Message.from_json(result[side]).value


# -- parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize("text, sides, path", [
    ("Address", ("request", "response"), ("Address",)),
    ("request.Options.com\\.docker\\.network\\.endpoint\\.macaddress", ("request",),
     ("Options", MAC)),
    ("response.Data.*", ("response",), ("Data", "*")),
    ("**.Gateway", ("request", "response"), ("**", "Gateway")),
    ("IPv4Data.0.Gateway", ("request", "response"), ("IPv4Data", "0", "Gateway")),
    ("request", ("request", "response"), ("request",)),
    ("a\\\\b", ("request", "response"), ("a\\b",)),
])
def test_parse_body_paths(text: str, sides: tuple[str, ...], path: tuple[str, ...]) -> None:
    rule = parse_rule(text)
    assert (rule.sides, rule.path, rule.header) == (sides, path, "")


def test_parse_header_rule_is_case_insensitive() -> None:
    rule = parse_rule("Header:X-Token")
    assert (rule.header, rule.path) == ("x-token", ())


@pytest.mark.parametrize("text, complaint", [
    ("", "empty rule"),
    ("Options..x", "empty key"),
    ("Options.", "empty key"),
    ("Options\\x", "backslash"),
    ("header:", "header:NAME"),
    ("header:two words", "header:NAME"),
])
def test_bad_rules_say_what_is_wrong(text: str, complaint: str) -> None:
    with pytest.raises(RedactionRuleError, match=complaint):
        parse_rules(["Address", text])


def test_split_path_keeps_escaped_dots() -> None:
    assert split_path("a.b\\.c.d") == ("a", "b.c", "d")


# -- applying -------------------------------------------------------------------------------


def test_escaped_key_redacts_the_mac_in_the_request_only() -> None:
    rules = parse_rules(["request.Options.com\\.docker\\.network\\.endpoint\\.macaddress"])
    result = redact_exchange_record(record(ADDRESS_REQUEST, ADDRESS_ANSWER), rules)
    assert body(result, "request")["Options"] == {MAC: REDACTED,
                                                  "com.docker.network.endpoint.name": "web"}
    assert body(result, "response") == ADDRESS_ANSWER
    assert result["redacted"] == ["request.Options.com\\.docker\\.network\\.endpoint\\.macaddress"]


def test_plain_path_applies_to_both_bodies() -> None:
    result = redact_exchange_record(record(ADDRESS_REQUEST, ADDRESS_ANSWER),
                                    parse_rules(["Address"]))
    assert body(result, "request")["Address"] == REDACTED
    assert body(result, "response")["Address"] == REDACTED


def test_glob_inside_a_key_and_case_insensitive_keys() -> None:
    answer = {"address": "10.4.4.21/24"}  # a plugin may answer in any case (Go decodes it)
    result = redact_exchange_record(record(ADDRESS_REQUEST, answer),
                                    parse_rules(["Options.*MACADDRESS", "response.ADDRESS"]))
    assert body(result, "request")["Options"][MAC] == REDACTED
    assert body(result, "response") == {"address": REDACTED}


def test_double_star_reaches_every_depth_and_star_reaches_list_items() -> None:
    request = {"NetworkID": "n1", "IPv4Data": [
        {"AddressSpace": "s", "Gateway": "10.4.4.1/24", "Pool": "10.4.4.0/24"},
        {"AddressSpace": "s", "Gateway": "10.5.5.1/24", "Pool": "10.5.5.0/24"}],
        "Options": {"Gateway": "top"}}
    result = redact_exchange_record(record(request, {}, endpoint="NetworkDriver.CreateNetwork"),
                                    parse_rules(["**.Gateway", "IPv4Data.*.Pool"]))
    sent = body(result, "request")
    assert [d["Gateway"] for d in sent["IPv4Data"]] == [REDACTED, REDACTED]
    assert [d["Pool"] for d in sent["IPv4Data"]] == [REDACTED, REDACTED]
    assert sent["Options"]["Gateway"] == REDACTED
    assert sent["NetworkID"] == "n1"


def test_whole_objects_are_replaced() -> None:
    result = redact_exchange_record(record(ADDRESS_REQUEST, ADDRESS_ANSWER),
                                    parse_rules(["request.Options"]))
    assert body(result, "request")["Options"] == REDACTED


def test_null_and_empty_values_stay() -> None:
    request = {"PoolID": "p", "Address": "", "Options": None}
    result = redact_exchange_record(record(request, ADDRESS_ANSWER),
                                    parse_rules(["request.Address", "request.Options"]))
    assert body(result, "request") == request
    assert "redacted" not in result


def test_headers_are_redacted_by_name() -> None:
    result = redact_exchange_record(record(ADDRESS_REQUEST, ADDRESS_ANSWER),
                                    parse_rules(["header:x-token", "header:host"]))
    response = Message.from_json(result["response"])
    request = Message.from_json(result["request"])
    assert response.header("X-Token") == REDACTED
    assert request.header("Host") == REDACTED
    assert body(result, "request") == ADDRESS_REQUEST


def test_content_length_follows_the_new_body() -> None:
    result = redact_exchange_record(record(ADDRESS_REQUEST, ADDRESS_ANSWER),
                                    parse_rules(["Address"]))
    for side in ("request", "response"):
        message = Message.from_json(result[side])
        assert message.header("Content-Length") == str(len(message.raw_body))


def test_kept_original_text_is_dropped_when_it_held_a_redacted_value() -> None:
    raw = b'{ "Address" : "10.4.4.21/24" }'  # no layout reproduces it: the text is kept
    original = record(ADDRESS_REQUEST, raw_response=raw)
    assert "text" in original["response"]["body"]
    result = redact_exchange_record(original, parse_rules(["response.Address"]))
    assert "10.4.4.21" not in json.dumps(result["response"])
    assert Message.from_json(result["response"]).value == {"Address": REDACTED}


def test_pure_input_untouched_and_other_records_passed_through() -> None:
    original = record(ADDRESS_REQUEST, ADDRESS_ANSWER)
    before = copy.deepcopy(original)
    redact_exchange_record(original, parse_rules(["Address", "header:Host"]))
    assert original == before
    marker = {"type": "marker", "t": 1.0, "text": "docker run", "after_seq": 1}
    assert redact_exchange_record(marker, parse_rules(["Address"])) is marker
    untouched = record({"PoolID": "p"}, {})
    assert redact_exchange_record(untouched, parse_rules(["Address"])) is untouched


def test_values_removed_are_reported_for_scrubbing() -> None:
    result = redact_values(record(ADDRESS_REQUEST, ADDRESS_ANSWER), parse_rules(["Address"]))
    assert set(result.values) == {"10.4.4.21", "10.4.4.21/24"}
    assert scrub("asked 10.4.4.21, got 10.4.4.21/24", result.values) == (
        f"asked {REDACTED}, got {REDACTED}")


def test_redact_recording_rebuilds_exchanges() -> None:
    header = rec.make_header(name="ipamx")
    lines = [header, record(ADDRESS_REQUEST, ADDRESS_ANSWER)]
    data = "".join(json.dumps(r) + "\n" for r in lines).encode()
    redacted, removed = redact_recording(rec.parse(data), parse_rules(["Address"]))
    assert redacted.exchanges[0].request.value["Address"] == REDACTED
    assert "10.4.4.21" in removed


# -- properties -----------------------------------------------------------------------------

KEYS = st.text(alphabet="abcdefXYZ.", min_size=1, max_size=6)
SECRETS = st.text(alphabet="0123456789abcdef:", min_size=8, max_size=16)


@given(path=st.lists(KEYS, min_size=1, max_size=4), secret=SECRETS)
def test_a_redacted_value_appears_nowhere_and_redaction_is_idempotent(
    path: list[str], secret: str,
) -> None:
    request: Any = secret
    for key in reversed(path):
        request = {key: request}
    rule = ".".join(k.replace(".", "\\.") for k in path)
    rules = parse_rules([rule])
    once = redact_exchange_record(record(request, request), rules)
    assert secret not in json.dumps(once, ensure_ascii=False)
    twice = redact_exchange_record(once, rules)
    assert twice == once
