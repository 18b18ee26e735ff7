"""The allocator's errors and the exact texts each Docker generation uses (PROTOCOL.md 6, 6.9).

An ``IpamError`` is a refusal of one request (dockerd shows its text to the user as
``remote: <text>``); ``kind`` is the Docker API error class the built-in IPAM attaches to it
(invalid-parameter → HTTP 400, forbidden → 403, unavailable → 503, not-found → 404,
internal → 500). ``ConfigError`` means the operator's configuration is unusable, and
``StateError`` that a state file cannot be used.
"""

from __future__ import annotations

INVALID = "invalid-parameter"
FORBIDDEN = "forbidden"
UNAVAILABLE = "unavailable"
NOT_FOUND = "not-found"
INTERNAL = "internal"


class IpamError(ValueError):
    """A request the allocator refuses. The caller sends ``message`` back to dockerd."""

    def __init__(self, message: str, *, kind: str = INVALID) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


class ConfigError(ValueError):
    """The allocator configuration is unusable (bad pool list, space name, compat)."""


class StateError(RuntimeError):
    """A state file cannot be loaded or written; the message names the file and the fix."""


# (text, kind) per message key and generation. "27" is v27 and later (lower case), "26" is
# v24-v26 (lower case, overlaps unwrapped), "20.10" is v23 and earlier (capitalised;
# PROTOCOL.md 6.9).
_COMMON: dict[str, tuple[str, str]] = {
    "in_use": ("Address already in use", FORBIDDEN),
    "overlap": ("Pool overlaps with other one on this address space", FORBIDDEN),
    "invalid_pool_id": ("invalid pool id: {pool_id}", INVALID),
    "parse_pool": (
        "failed to parse pool request for address space {space} pool {pool} subpool {sub}: "
        "{reason}", INTERNAL,
    ),
}

MESSAGES: dict[str, dict[str, tuple[str, str]]] = {
    "27": {
        **_COMMON,
        "invalid_space": ("invalid address space", INVALID),
        "invalid_pool": ("invalid address pool", INVALID),
        "invalid_subpool": ("invalid address subpool", INVALID),
        "no_ips": ("no available addresses on this pool", UNAVAILABLE),
        "out_of_range": ("requested address is out of range", INVALID),
        "bad_pool": ("address space does not contain specified address pool", INVALID),
        "no_more_subnets": ("all predefined address pools have been fully subnetted", INVALID),
        "unknown_space": ("cannot find address space {space}", INVALID),
        "pool_request": ("invalid pool request: {reason}", FORBIDDEN),
        "subpool_request": ("invalid pool request: invalid address subpool", INTERNAL),
        "families": ("pool and subpool are of incompatible address families", INVALID),
        "no_pool_for_id": ("cannot find address pool for poolID:{key}", NOT_FOUND),
        "no_pool_for": ("cannot find address pool for {key}", NOT_FOUND),
        "bad_preferred": ("invalid preferred address: {address}", INVALID),
        "bad_address": ("invalid address: <nil>", INVALID),
        "range_outside": ("add-any, range '{child}' is not in subnet '{pool}'", INTERNAL),
    },
    "20.10": {
        **_COMMON,
        "invalid_space": ("Invalid Address Space", INVALID),
        "invalid_pool": ("Invalid Address Pool", INVALID),
        "invalid_subpool": ("Invalid Address SubPool", INVALID),
        "no_ips": ("No available addresses on this pool", UNAVAILABLE),
        "out_of_range": ("Requested address is out of range", INVALID),
        "bad_pool": ("Address space does not contain specified address pool", INVALID),
        "unknown_space": (
            "cannot find address space {space} (most likely the backing datastore is not "
            "configured)", INVALID,
        ),
        "no_default_pool": (
            "could not find an available, non-overlapping IPv{version} address pool among the "
            "defaults to assign to the network", NOT_FOUND,
        ),
        "non_default_space": ("no default pool available for non-default address spaces",
                              "not-implemented"),
        "families": (
            "failed to compute range's lowest ip address: cannot compute host portion ip address "
            "because ip and mask are not compatible: ({sub}, {pool})", INTERNAL,
        ),
        "no_pool_for_id": ("cannot find address pool for poolID:{key}", NOT_FOUND),
        "bad_address": ("invalid address: nil", INVALID),
        "bad_preferred": ("invalid preferred address: {address}", INVALID),
        "not_in_sequence": ("bit does not belong to the sequence", INTERNAL),
        "bad_range": ("invalid bit range [{start}, {end}]", INTERNAL),
        "orphan": (
            "cannot find address pool for poolID:{key} (the sub-pool outlived its parent pool; "
            "dockerd 20.10 dereferences nil here)", INTERNAL,
        ),
    },
}


# v24-v26: 27's texts, but no free default pool is 20.10's text and the family mismatch is
# found when the sub-pool is added, unwrapped.
MESSAGES["26"] = {
    **MESSAGES["27"],
    "no_default_pool": MESSAGES["20.10"]["no_default_pool"],
    "families": ("pool and subpool are of incompatible address families", INTERNAL),
}


def text(compat: str, message: str, /, **values: object) -> str:
    """The text of ``message`` in generation ``compat``, filled in."""
    template, _kind = MESSAGES[compat][message]
    return template.format(**values)


def error(compat: str, message: str, /, **values: object) -> IpamError:
    """An ``IpamError`` carrying ``message`` of generation ``compat``."""
    template, kind = MESSAGES[compat][message]
    return IpamError(template.format(**values), kind=kind)
