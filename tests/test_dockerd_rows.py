"""Every endpoint row is complete: a new endpoint, or a field left out, fails here."""

from __future__ import annotations

import pytest

from ipamx_spy.dockerd import ROW, ROWS, Endpoint, FailureEffect, fieldtypes
from ipamx_spy.dockerd.gotypes import GoStruct
from ipamx_spy.dockerd.versions import DockerVersion


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


def _paths(name: str, row: object) -> set[str]:
    response_type = row.response_type  # type: ignore[attr-defined]
    out = {name}
    for field_name, gotype in response_type.fields:
        if field_name == name and isinstance(gotype, GoStruct):
            out |= {f"{name}.{sub}" for sub, _ in gotype.fields}
    return out
