"""The mitmproxy contentview's verdict line is the authority's verdict (issue #12): read from
the answer's bytes as sent, with the request, and "only logs" exactly when the verdict says so."""

from __future__ import annotations

import pytest
from verdict_cases import CASES, Case

from ipamx_spy import dockerd
from ipamx_spy.mitm import view
from ipamx_spy.recording import Exchange, Message, encode_body, go_json


def _exchange(case: Case) -> Exchange:
    raw = (go_json(case.request) + "\n").encode()
    return Exchange(
        seq=1, conn=1, t=0.0, endpoint=case.endpoint.value,
        request=Message(method="POST", target=f"/{case.endpoint.value}", headers=(),
                        body=encode_body(raw)),
        response=Message(status=case.status, reason="OK", headers=(), body=encode_body(case.body)),
        duration_ms=1.0)


def _verdict(case: Case) -> dockerd.Verdict:
    exchange = _exchange(case)
    assert exchange.response is not None
    return dockerd.read_answer(case.endpoint, case.status, (), exchange.response.raw_body,
                               dockerd.DEFAULT_VERSION, request=case.request)


@pytest.mark.parametrize("case", [c for c in CASES if c.version == str(dockerd.DEFAULT_VERSION)],
                         ids=lambda c: c.id)
def test_the_verdict_line_says_what_the_verdict_says(case: Case) -> None:
    line = view.verdict_line(_exchange(case))
    if case.outcome is dockerd.Outcome.SUCCESS:
        assert line == [("highlight", "dockerd: success")]
    elif case.outcome is dockerd.Outcome.LOGGED:
        logged = _verdict(case).shown_log_line
        assert line == [("error", f"dockerd only logs the error: {case.error}"
                                  + (f", as: {logged}" if logged else ""))]
    else:
        assert line == [("error", f"dockerd fails the command: {case.error}")]


def test_an_empty_answer_to_endpoint_oper_info_is_no_success() -> None:
    oper_info = next(c for c in CASES if c.id == "oper-info-empty-200")
    assert view.verdict_line(_exchange(oper_info)) == [
        ("error", "dockerd fails the command: EOF")]
