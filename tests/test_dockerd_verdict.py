"""``read_answer`` offline: each row is a case whose outcome was observed on dockerd 20.10.24,
26.1.5 and 28.5.2 (tests/test_dockerd_real.py and, for the swarm-only calls,
tests/test_dockerd_swarm_verdict.py drive the same rows through the real daemons)."""

from __future__ import annotations

import pytest
from verdict_cases import VERSIONS, Case, cases_on

from ipamx_spy.dockerd import (
    ROWS,
    Endpoint,
    FailureEffect,
    NoAnswer,
    Outcome,
    read_answer,
    read_no_answer,
)

ON_EACH = [case for label in VERSIONS for case in cases_on(label)]


@pytest.mark.parametrize("case", ON_EACH, ids=lambda c: f"{c.version}-{c.id}")
def test_read_answer(case: Case) -> None:
    verdict = read_answer(case.endpoint, case.status, [], case.body, case.version,
                          request=case.request)
    assert verdict.outcome is case.outcome
    assert verdict.error == case.error
    if case.outcome is Outcome.FAILS_COMMAND:
        assert verdict.cli_text is not None and case.error is not None
        assert case.error in verdict.cli_text
        if case.cli:
            assert verdict.cli_text in case.cli
    if case.outcome is Outcome.LOGGED:
        assert verdict.log_line is not None and case.error is not None
        assert case.error in verdict.log_line or verdict.log_line.startswith("remote ipam") \
            or verdict.log_line == "<debug level only>"
        if case.log and "<" not in verdict.log_line:
            assert case.log in verdict.log_line


def test_every_answer_dockerd_ignores_has_an_empty_body_case_seen_on_the_real_daemon() -> None:
    """Issue #12's "an empty body on each endpoint whose answer dockerd ignores": a row whose
    failure dockerd only logs needs a 200-with-no-body case that a real-daemon test drives
    (tests/test_dockerd_real.py, tests/test_dockerd_swarm_verdict.py, and
    tests/test_dockerd_connectivity.py's faults for the external connectivity rows)."""
    from test_dockerd_connectivity import FAULTS

    empty = {c.endpoint for label in VERSIONS for c in cases_on(label)
             if c.status == 200 and c.body == b"" and c.outcome is Outcome.LOGGED}
    empty |= {f.endpoint for f in FAULTS if f.status == 200 and f.body == b""}
    ignored = {row.endpoint for row in ROWS if row.on_failure is FailureEffect.LOGGED}
    assert ignored - empty == set()


def test_28_5_only_logs_what_fails_docker_run_on_older_daemons() -> None:
    old = read_answer(Endpoint.ENDPOINT_OPER_INFO, 500, [], b'{"Err":"x"}', "26.1.5")
    new = read_answer(Endpoint.ENDPOINT_OPER_INFO, 500, [], b'{"Err":"x"}', "28.5.2")
    assert old.outcome is Outcome.FAILS_COMMAND and new.outcome is Outcome.LOGGED
    assert "fails" in old.sentence
    assert new.sentence.endswith("dockerd 28 ignores it: the docker command still succeeds")


def test_case_insensitive_keys_are_used_under_their_go_names() -> None:
    verdict = read_answer(Endpoint.REQUEST_POOL, 200, [],
                          b'{"poolid":"p","POOL":"10.1.0.0/16","data":null}', None)
    assert verdict.ok
    assert verdict.used == {"PoolID": "p", "Pool": "10.1.0.0/16", "Data": None}
    assert verdict.decoded is not None and verdict.decoded.folded == ["poolid", "POOL", "data"]


def test_trailing_data_is_kept_aside() -> None:
    verdict = read_answer(Endpoint.RELEASE_POOL, 200, [], b"{}\n{} junk", None)
    assert verdict.ok and verdict.decoded is not None and verdict.decoded.trailing == "{} junk"


def test_a_bare_address_answer_fails_on_the_cidr_parse() -> None:
    verdict = read_answer(Endpoint.REQUEST_ADDRESS, 200, [], b'{"Address":"10.9.9.9"}', None,
                          request={"PoolID": "p", "Address": "",
                                   "Options": {"RequestAddressType":
                                               "com.docker.network.gateway"}})
    assert verdict.error == "failed to allocate gateway (): invalid CIDR address: 10.9.9.9"
    assert verdict.cli_text == ("Error response from daemon: failed to allocate gateway (): "
                                "invalid CIDR address: 10.9.9.9")


def test_no_address_returned_changes_case_with_the_version() -> None:
    old = read_answer(Endpoint.REQUEST_ADDRESS, 200, [], b"{}", "20.10.24")
    new = read_answer(Endpoint.REQUEST_ADDRESS, 200, [], b"{}", "28.5.2")
    assert (old.error, new.error) == ("No address returned", "no address returned")


def test_404_is_success_only_where_dockerd_tolerates_it() -> None:
    assert read_answer(Endpoint.PROGRAM_EXTERNAL_CONNECTIVITY, 404, [], b"", None).ok
    join = read_answer(Endpoint.JOIN, 404, [], b"404 page not found\n", None)
    assert join.error == "NetworkDriver.Join: 404 page not found\n"


def test_connection_refused_is_retried_with_the_body_after_one_second() -> None:
    verdict = read_no_answer(Endpoint.REQUEST_POOL, NoAnswer.REFUSED, "20.10.24")
    assert verdict.outcome is Outcome.RETRIED
    assert verdict.retry_after == 1.0 and not verdict.retry_empty_body


def test_closed_without_an_answer_is_retried_with_an_empty_body() -> None:
    verdict = read_no_answer(Endpoint.REQUEST_POOL, NoAnswer.CLOSED, "20.10.24")
    assert verdict.outcome is Outcome.RETRIED and verdict.retry_empty_body
    assert "empty body" in verdict.sentence


def test_dockerd_gives_up_after_the_fifth_attempt() -> None:
    waits = [read_no_answer(Endpoint.REQUEST_POOL, NoAnswer.REFUSED, None, attempt=n)
             for n in range(5)]
    assert [v.retry_after for v in waits[:4]] == [1.0, 2.0, 4.0, 8.0]
    last = waits[4]
    assert last.outcome is Outcome.FAILS_COMMAND
    assert last.error is not None and last.error.endswith("connect: connection refused")
    assert 'Post "http://%2Frun%2Fdocker%2Fplugins%2F' in last.error
    newer = read_no_answer(Endpoint.REQUEST_POOL, NoAnswer.CLOSED, "28.5.2", attempt=4)
    assert newer.error == 'Post "http://plugin.moby.localhost/IpamDriver.RequestPool": EOF'


def test_a_refused_release_address_is_not_explained_as_a_freed_address() -> None:
    from ipamx_spy.dockerd import explain

    asked = {"PoolID": "p1", "Address": "10.77.0.1"}
    for body in (b'{"Error":"no such"}', b""):
        found = read_answer(Endpoint.RELEASE_ADDRESS, 200, None, body, request=asked)
        sentence = explain(Endpoint.RELEASE_ADDRESS.value, asked, found)
        assert found.outcome is Outcome.LOGGED
        assert "free again" not in sentence
        assert "dockerd only logs it" in sentence and "may still count it as in use" in sentence
    freed = read_answer(Endpoint.RELEASE_ADDRESS, 200, None, b"{}", request=asked)
    freed_sentence = explain(Endpoint.RELEASE_ADDRESS.value, asked, freed)
    assert freed_sentence.endswith("the address is free again")


def test_retry_waits_are_the_retries_read_no_answer_promises() -> None:
    from ipamx_spy.dockerd.verdict import retry_waits
    from ipamx_spy.validate.transport import Transport

    waits = retry_waits()
    assert waits == (1.0, 2.0, 4.0, 8.0)
    for attempt, wait in enumerate(waits):
        found = read_no_answer(Endpoint.REQUEST_POOL, NoAnswer.REFUSED, attempt=attempt)
        assert found.outcome is Outcome.RETRIED and found.retry_after == wait
    given_up = read_no_answer(Endpoint.REQUEST_POOL, NoAnswer.REFUSED, attempt=len(waits))
    assert given_up.outcome is not Outcome.RETRIED
    message = Transport().unanswered(1, Endpoint.REQUEST_POOL.value).message  # IPX402
    assert "retries 1 s later" in message and "(then after 2, 4 and 8 s)" in message
    assert "about 15 s after the first" in message


def test_a_refused_release_is_logged_in_the_words_of_its_address_role() -> None:
    """dockerd's line names what it released (libnetwork ``endpoint.go`` and
    ``network.go`` ipamReleaseVersion, the same sentence in 20.10.24, 26.1.5 and 28.5.2)."""
    from ipamx_spy.dockerd import AddressRole

    asked = {"PoolID": "p1", "Address": "10.77.0.1"}
    tail = "10.77.0.1 on delete of network <name> (<id>): remote: no such"
    lines = {
        None: ("Failed to release ip address 10.77.0.1 on delete of endpoint <name> (<id>): "
               "remote: no such"),
        AddressRole.ENDPOINT: ("Failed to release ip address 10.77.0.1 on delete of endpoint "
                               "<name> (<id>): remote: no such"),
        AddressRole.GATEWAY: f"Failed to release gateway ip address {tail}",
        AddressRole.AUX: ("Failed to release secondary ip address <aux> (10.77.0.1) on delete "
                          "of network <name> (<id>): remote: no such"),
    }
    for version in ("20.10.24", "26.1.5", "28.5.2"):
        for role, line in lines.items():
            found = read_answer(Endpoint.RELEASE_ADDRESS, 200, None, b'{"Error":"no such"}',
                                version, request=asked, role=role)
            assert found.outcome is Outcome.LOGGED and found.error == "remote: no such"
            assert found.log_line == line and found.shown_log_line == line
            assert found.role is role
    gateway = read_answer(Endpoint.RELEASE_ADDRESS, 500, None, b'{"Err":"held"}',
                          request=asked, role=AddressRole.GATEWAY)
    assert gateway.log_line == ("Failed to release gateway ip address 10.77.0.1 on delete of "
                                "network <name> (<id>): IpamDriver.ReleaseAddress: held")
    assert "dockerd forgets the gateway address" in gateway.sentence
    aux = read_answer(Endpoint.RELEASE_ADDRESS, 200, None, b"", request=asked,
                      role=AddressRole.AUX)
    assert "dockerd forgets the --aux-address" in aux.sentence
    assert "docker network rm still succeeds" in aux.sentence
    container = read_answer(Endpoint.RELEASE_ADDRESS, 200, None, b"", request=asked)
    assert "the docker command still succeeds; dockerd forgets the address" in container.sentence
    # A role says nothing about another endpoint, nor about an answer dockerd takes.
    pool = read_answer(Endpoint.RELEASE_POOL, 200, None, b"", request={"PoolID": "p1"},
                       role=AddressRole.GATEWAY)
    assert pool.log_line == ("Failed to release address pool p1 on delete of network <name> "
                             "(<id>): EOF")
    freed = read_answer(Endpoint.RELEASE_ADDRESS, 200, None, b"{}", request=asked,
                        role=AddressRole.GATEWAY)
    assert freed.ok and freed.log_line is None and freed.shown_log_line is None


def test_a_release_that_got_no_answer_is_logged_in_the_words_of_its_role() -> None:
    from ipamx_spy.dockerd import AddressRole

    last = read_no_answer(Endpoint.RELEASE_ADDRESS, NoAnswer.REFUSED, "26.1.5", attempt=4,
                          role=AddressRole.GATEWAY)
    assert last.outcome is Outcome.LOGGED and last.log_line is not None
    assert last.log_line.startswith("Failed to release gateway ip address ")
    assert last.error is not None and last.log_line.endswith(last.error)
