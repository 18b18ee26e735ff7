"""Every endpoint row is complete: a new endpoint, or a field left out, fails here."""

from __future__ import annotations

import re

import pytest

from ipamx_spy import infer
from ipamx_spy.dockerd import (
    ROW,
    ROWS,
    AnswerCheck,
    Endpoint,
    FailureEffect,
    LedgerEffect,
    fieldtypes,
    read_answer,
)
from ipamx_spy.dockerd import ledger as dockerd_ledger
from ipamx_spy.dockerd.endpoints import Row
from ipamx_spy.dockerd.gotypes import GoSlice, GoStruct, GoType
from ipamx_spy.dockerd.versions import DockerVersion
from ipamx_spy.emulator import probe
from ipamx_spy.validate import fields, session


def test_every_endpoint_has_exactly_one_row() -> None:
    assert [row.endpoint for row in ROWS] == list(Endpoint)
    assert set(ROW) == set(Endpoint)


@pytest.mark.parametrize("endpoint", list(Endpoint), ids=str)
def test_row_is_complete(endpoint: Endpoint) -> None:
    row = ROW[endpoint]
    assert row.summary.strip()
    assert isinstance(row.since, DockerVersion) and row.since >= DockerVersion(1, 7)
    assert isinstance(row.response_type, GoStruct)
    error_field = endpoint.error_field
    names = [name for name, _type in row.response_type.fields]
    if error_field is not None:
        assert names[0] == error_field
    assert {f.name for f in row.response} <= set(names)
    top = {f.name for f in row.request}
    assert all(path and path[0] in top for path in row.made_up), row.made_up
    if {"NetworkID", "EndpointID", "SandboxKey"} & top:
        assert {(n,) for n in {"NetworkID", "EndpointID", "SandboxKey"} & top} <= set(
            row.made_up), "the IDs dockerd makes up are marked made_up"
    if row.repeatable:
        assert row.request_type is None or endpoint is Endpoint.ENDPOINT_OPER_INFO
    silent = [f.name for f in row.response if f.required and not f.missing.strip()]
    assert silent == [], "required answer fields must say what dockerd does without them"
    unknown = [f.type for f in (*row.request, *row.response) if not fieldtypes.known(f.type)]
    assert unknown == [], "field types outside the vocabulary (dockerd/fieldtypes.py)"
    if row.request_type is None:
        assert row.request == ()
    else:
        assert [f.name for f in row.request] == [n for n, _ in row.request_type.fields]
    sample = {f.name: "" for f in row.request}
    assert row.explain_request(sample).strip()
    assert row.explain_success(sample, {}).strip()
    assert row.failure_sentence.strip()
    assert set(row.chosen(sample)) <= {p for f in row.response for p in _paths(f.name, row)}
    if row.on_failure is FailureEffect.LOGGED:
        assert row.log_line.strip()
    else:
        assert "{error}" in row.cli_text and row.cli_text.startswith("Error response from daemon")


_PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Requests that reach each branch of ``Row.by_request``: no body, a swarm node's own
# DiscoverNew (BindAddress set), another gossip member's (BindAddress "").
_KINDS_OF_REQUEST: tuple[dict[str, object], ...] = (
    {}, {"DiscoveryType": 1, "DiscoveryData": {"Address": "198.18.1.1",
                                                "BindAddress": "198.18.1.1", "Self": True}},
    {"DiscoveryType": 1, "DiscoveryData": {"Address": "198.18.1.2", "BindAddress": "",
                                           "Self": False}})


@pytest.mark.parametrize("endpoint", list(Endpoint), ids=str)
def test_a_row_s_words_by_role_and_by_request_are_complete(endpoint: Endpoint) -> None:
    """``by_role``, ``by_request`` and ``log_message`` (the words of a logged failure for an
    address role, a kind of request, a daemon with structured logs) are whole, belong to a
    logged row only, and fill their ``{placeholders}`` from the request or the error."""
    row = ROW[endpoint]
    requests = [*_samples(row), *_KINDS_OF_REQUEST]
    by_request = [w for w in (row.by_request(r) for r in requests) if w is not None]
    if row.on_failure is not FailureEffect.LOGGED:
        assert (dict(row.by_role), by_request, row.log_message) == ({}, [], ""), (
            "words for a logged failure on a row whose failure fails the command")
        return
    assert all(isinstance(role, dockerd_ledger.AddressRole) for role in row.by_role)
    words = [*row.by_role.values(), *by_request]
    assert all(w.log_line.strip() and w.failure_sentence.strip() for w in words), words
    fillable = {f.name for f in row.request} | {"error"}
    for template in (row.log_line, *(w.log_line for w in words)):
        assert set(_PLACEHOLDER.findall(template)) <= fillable, (template, fillable)
    assert "{" not in row.log_message, "log_message is logged as it is, never filled"


def _paths(name: str, row: object) -> set[str]:
    response_type = row.response_type  # type: ignore[attr-defined]
    out = {name}
    for field_name, gotype in response_type.fields:
        if field_name == name and isinstance(gotype, GoStruct):
            out |= {f"{name}.{sub}" for sub, _ in gotype.fields}
    return out


def _samples(row: Row) -> list[dict[str, object]]:
    """Requests that reach each branch of a row's ``chosen``: every field empty, every field
    given."""
    return [{f.name: "" for f in row.request}, {f.name: "x" for f in row.request}]


@pytest.mark.parametrize("endpoint", list(Endpoint), ids=str)
def test_every_chosen_path_has_a_validity_rule(endpoint: Endpoint) -> None:
    row = ROW[endpoint]
    chosen = {path for sample in _samples(row) for path in row.chosen(sample)}
    assert chosen <= set(row.validity), "each path the plugin chooses needs a rule (choices.py)"
    assert set(row.validity) <= chosen, "a rule for a path the plugin never chooses"
    assert all(callable(rule) for rule in row.validity.values())


@pytest.mark.parametrize("endpoint", list(Endpoint), ids=str)
def test_row_names_a_token_the_inference_patterns_use(endpoint: Endpoint) -> None:
    token = ROW[endpoint].token
    assert re.fullmatch(r"[a-z0-9]+", token), "infer's pattern words are [a-z0-9]+"
    words = {w for command in infer.COMMANDS
             for w in re.findall(r"[a-z0-9]+", command.pattern)}
    words |= {w for value in vars(infer).values() if isinstance(value, str)
              for w in re.findall(r"[a-z0-9]+", value)}  # shared pattern pieces (_POOLS ...)
    assert token in words, f"no inference pattern uses {token!r}"


@pytest.mark.parametrize("endpoint", [e for e in Endpoint if e not in probe.ROUTES], ids=str)
def test_the_probe_plugin_answers_unrouted_endpoints_as_the_row_allows(
        endpoint: Endpoint) -> None:
    plugin = probe.ProbePlugin()
    reply = plugin.handle(endpoint.value, b"{}")
    verdict = read_answer(endpoint, reply.status, None, reply.body, request={})
    assert verdict.error is None, (
        f"{endpoint}: the probe's default answer fails ({verdict.error}); route it in "
        "emulator/probe.py ROUTES")


def _nests_a_struct(gotype: GoType) -> bool:
    return isinstance(gotype, GoStruct) or (isinstance(gotype, GoSlice)
                                             and isinstance(gotype.elem, GoStruct))


@pytest.mark.parametrize("endpoint", list(Endpoint), ids=str)
def test_a_row_that_names_a_pool_says_what_it_does_to_the_ledger(endpoint: Endpoint) -> None:
    row = ROW[endpoint]
    names_pool = "PoolID" in {f.name for f in (*row.request, *row.response)}
    assert (row.ledger is not None) == names_pool, (
        "an endpoint that issues, releases or uses a PoolID needs its LedgerEffect (and one "
        "that does not, none)")


@pytest.mark.parametrize("endpoint", list(Endpoint), ids=str)
def test_a_row_whose_answer_echoes_or_nests_values_names_its_checks(endpoint: Endpoint) -> None:
    row = ROW[endpoint]
    asked = {f.name for f in row.request}
    echoed = [f.name for f in row.response
              if f.name in asked and f.type.split("|")[0] in {"cidr", "cidr?", "ip?", "object"}]
    nested = [name for name, gotype in row.response_type.fields if _nests_a_struct(gotype)]
    assert bool(row.answer_checks) == bool(echoed or nested), (
        f"answer values {echoed + nested} need an AnswerCheck (validate/fields.py), and a row "
        "without such values none")
    assert len(set(row.answer_checks)) == len(row.answer_checks)


def test_every_effect_and_check_is_implemented_and_used() -> None:
    assert set(dockerd_ledger.UPDATES) == set(LedgerEffect)
    assert set(session.HANDLERS) == set(LedgerEffect)
    assert set(fields.SPECIFIC) == set(AnswerCheck)
    assert {row.ledger for row in ROWS} - {None} == set(LedgerEffect)
    assert {check for row in ROWS for check in row.answer_checks} == set(AnswerCheck)


# Modules whose owners still spell an interface as a string (issue #12 audit, 2026-12-02):
# each names its own interface once, as its routes' prefix, or reads recorded endpoint names.
INTERFACE_WORDS_LEFT = {"replay/target.py"}


def test_every_endpoint_belongs_to_an_interface() -> None:
    from ipamx_spy.dockerd import Interface

    assert {endpoint.interface for endpoint in Endpoint} == set(Interface)
    assert all(type(row.interface) is Interface for row in ROWS)


def test_no_interface_is_spelt_as_a_string_outside_the_authority() -> None:
    import ast
    from pathlib import Path

    import ipamx_spy
    from ipamx_spy.dockerd import Interface

    package = Path(ipamx_spy.__file__).parent
    words = {str(i) for i in Interface} - {"Plugin"}  # "Plugin" is an ordinary word too
    found: dict[str, list[int]] = {}
    for path in sorted(package.rglob("*.py")):
        where = str(path.relative_to(package))
        if where.startswith("dockerd/"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr)}
        lines = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Constant)
                 and n.value in words and id(n) not in docstrings]
        if lines:
            found[where] = lines
    assert set(found) - INTERFACE_WORDS_LEFT == set(), found
    assert INTERFACE_WORDS_LEFT - set(found) == set(), "no longer spelt there: drop it"
