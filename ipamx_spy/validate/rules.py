"""The table of validation rules: stable codes, severities and titles.

Codes never change meaning once released; a retired check keeps its number unused. The
hundreds say the family: 0xx the endpoint itself, 1xx how an answer carries success or failure,
2xx the fields of an answer, 3xx rules across exchanges (the session), 4xx the transport.
``docs/validation.md`` explains each one with an example.
"""

from __future__ import annotations

from dataclasses import dataclass

from ipamx_spy.findings import Finding, Severity


@dataclass(frozen=True, kw_only=True)
class Rule:
    code: str
    severity: Severity
    title: str


_TABLE: tuple[tuple[str, str, str], ...] = (
    ("IPX001", "info", "request for an endpoint that is not part of the plugin protocol"),
    ("IPX101", "warning", "non-200 answer without a JSON Err"),
    ("IPX102", "error", "200 answer with an empty body"),
    ("IPX103", "error", "network driver answer carries Error instead of Err"),
    ("IPX104", "error", "IPAM answer carries Err instead of Error"),
    ("IPX105", "warning", "non-200 answer carries Error instead of Err"),
    ("IPX106", "error", "200 answer that is not JSON"),
    ("IPX107", "error", "200 answer that is JSON but not an object"),
    ("IPX108", "info", "data after the JSON answer"),
    ("IPX201", "error", "field of the wrong type"),
    ("IPX202", "error", "required field missing or empty"),
    ("IPX203", "error", "address without a prefix length"),
    ("IPX204", "error", "invalid CIDR"),
    ("IPX205", "error", "unknown Scope"),
    ("IPX206", "error", "address outside its pool"),
    ("IPX207", "warning", "address differs from the one dockerd asked for"),
    ("IPX208", "warning", "prefix length differs from the pool's"),
    ("IPX209", "warning", "pool differs from the one dockerd asked for"),
    ("IPX210", "error", "invalid IP address"),
    ("IPX211", "error", "driver changes an interface field dockerd already set"),
    ("IPX212", "error", "invalid MAC address"),
    ("IPX213", "info", "key matched only case-insensitively"),
    ("IPX214", "info", "unknown key, ignored by dockerd"),
    ("IPX215", "warning", "Activate lists neither NetworkDriver nor IpamDriver"),
    ("IPX301", "error", "address handed out twice without a release"),
    ("IPX302", "warning", "release of an address that is not allocated"),
    ("IPX303", "warning", "release of a pool that is not held"),
    ("IPX304", "warning", "PoolID the plugin never issued"),
    ("IPX305", "warning", "request after a failed Activate"),
    ("IPX306", "warning", "call to an interface the plugin did not declare"),
    ("IPX401", "warning", "slow answer"),
    ("IPX402", "error", "connection closed without an answer"),
    ("IPX403", "info", "unexpected content type"),
    ("IPX404", "warning", "empty body where arguments are required (dockerd's retry)"),
    ("IPX405", "error", "plugin accepted an empty-body request as real"),
)

RULES: dict[str, Rule] = {
    code: Rule(code=code, severity=Severity(severity), title=title)
    for code, severity, title in _TABLE
}


def finding(code: str, seq: int, message: str) -> Finding:
    """A finding of rule ``code`` (its severity comes from the table)."""
    return Finding(code=code, severity=RULES[code].severity, seq=seq, message=message)
