"""Docker Engine versions and the facts that differ between them, as rows (PROTOCOL.md 5 and 9).

``DockerVersion.parse("20.10.24")`` reads a version; ``VersionRow`` is one supported dockerd
line with every fact that differs between lines (what it sends plugins, how it words and
judges answers), one row per line in ``VERSION_ROWS``; ``version.row`` (or ``lookup(text)``
for a version a user typed) picks the row. The verdict, the emulator and the tests read the
flags, never version numbers. ``fact(name, version)`` holds the few facts that change at a
patch release (``FACTS``, newest first).

Three rows are verified against real daemons (``verified``; ``tests/test_dockerd_real.py``
and the captures in ``recordings/`` and ``scenarios/captures/``): ``20.10`` is 20.10.24
(Debian bookworm), ``26`` is 26.1.5 (trixie) and ``28`` is 28.5.2 (sid). ``27`` and ``29``
follow the source as PROTOCOL.md describes it (docs/versions.md lists each difference).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import NamedTuple


class DockerVersion(NamedTuple):
    major: int
    minor: int = 0
    patch: int = 0

    @classmethod
    def parse(cls, text: str | DockerVersion | None) -> DockerVersion:
        """``"20.10.24"``, ``"28.5.2+dfsg1"``, ``"v26.1"``; None gives ``DEFAULT_VERSION``.
        Raises ``ValueError`` for text with no version number in it."""
        if text is None:
            return DEFAULT_VERSION
        if isinstance(text, DockerVersion):
            return text
        known = _PARSED.get(text) if cls is DockerVersion else None
        if known is not None:  # a reader asks for its file's version at every exchange
            return known
        found = re.match(r"v?(\d+)(?:\.(\d+))?(?:\.(\d+))?", text.strip())
        if found is None:
            raise ValueError(f"not a Docker version: {text!r}")
        major, minor, patch = (int(g) if g else 0 for g in found.groups())
        version = cls(major, minor, patch)
        if cls is DockerVersion and len(_PARSED) < _PARSED_KEPT:
            _PARSED[text] = version
        return version

    @classmethod
    def or_default(cls, text: object) -> DockerVersion:
        """``parse(text)``, or ``DEFAULT_VERSION`` when ``text`` names no version (None, not a
        string, no number in it): the daemon every reader assumes for a recording whose
        header names none, the validator's checks and dockerd's verdicts alike."""
        if isinstance(text, str | DockerVersion):
            try:
                return cls.parse(text)
            except ValueError:
                pass
        return DEFAULT_VERSION

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    @property
    def row(self) -> VersionRow:
        """The row of the dockerd line this version belongs to (versions older than every
        row get the oldest one)."""
        return row_of(self.major)


_PARSED: dict[str, DockerVersion] = {}  # text -> its version (a tuple: safe to share)
_PARSED_KEPT = 64

DEFAULT_VERSION = DockerVersion(20, 10, 24)
"""The daemon whose behaviour every verdict row was observed on (Debian bookworm's docker.io)."""

FACTS: dict[str, tuple[tuple[DockerVersion, str], ...]] = {
    # The host in the URL of transport errors (dummyHost since 20.10.26 / 23.0.7 / 24.0.5).
    "plugin_url_host": ((DockerVersion(24, 0, 5), "plugin.moby.localhost"),
                        (DockerVersion(24), "{socket}"),
                        (DockerVersion(23, 0, 7), "plugin.moby.localhost"),
                        (DockerVersion(23), "{socket}"),
                        (DockerVersion(20, 10, 26), "plugin.moby.localhost"),
                        (DockerVersion(1, 7), "{socket}")),
}


def fact(name: str, version: DockerVersion) -> str:
    """The value of fact ``name`` for ``version``. Raises ``KeyError`` for an unknown fact."""
    for since, value in FACTS[name]:
        if version >= since:
            return value
    return FACTS[name][-1][1]


@dataclass(frozen=True, kw_only=True)
class VersionRow:
    """One supported dockerd line: every fact that differs between lines. Every field is
    required (``tests/test_version_rows.py`` also checks that each is documented)."""

    name: str  # "20.10", "26", ...: what --docker-version names
    major: int
    first_major: int  # the oldest major version that behaves as this row (lookup)
    verified: str  # the real daemon the row was checked against, "" when read from the source
    # -- what dockerd sends plugins ---------------------------------------------------------
    dummy_host: bool  # Host: plugin.moby.localhost on unix sockets (20.10.26+, 23.0.7+, 24.0.5+)
    spaces_at_registration: bool  # IpamDriver handler calls GetDefaultAddressSpaces (<= v23)
    spaces_per_create: bool  # GetDefaultAddressSpaces once per network create (v24+)
    spaces_per_request_pool: bool  # ... and before every RequestPool (v27+)
    gw_alloc_check: bool  # NetworkDriver.GwAllocCheck when the driver asks (v28+)
    enable_ipv4_option: bool  # com.docker.network.enable_ipv4 in CreateNetwork (v28+)
    ipv6_gateway_counts: bool  # GatewayIPv6 and ::/0 count as a gateway (v28+)
    endpoint_name_option: bool  # com.docker.network.endpoint.name in RequestAddress (v29)
    program_on_change: bool  # the remote shim sends Program/Revoke only on change (v29)
    internal_skips_oper_info: bool  # no EndpointOperInfo before an internal endpoint (26.1.5's
    #  and 28.5.2's capture gateway-moves, v29's source; 27 between them)
    canonical_subnets: bool  # the daemon refuses subnets with host bits (v25+)
    daemon_checks_ip: bool  # the daemon refuses --ip outside every subnet before IPAM (v26+)
    oper_info_for_joined: bool  # EndpointOperInfo to the joined endpoint first (until 28.x)
    program_no_proxy_6to4: bool  # sbJoin's Program carries no_proxy_6to4 always (v28)
    driver_in_not_implemented: bool  # "... requested implementation=..." suffix (v29)
    global_scope_needs_swarm: bool  # a global-scope driver's network outside swarm mode:
    #  CreateNetwork, then refused and rolled back (20.10.24; 26.1.5 and 28.5.2 create it)
    overlap_release_lifo: bool  # pools held because they overlapped a host route are released
    #  last first (20.10: a defer in the retry loop), not in the order they came (v25+)
    # -- how dockerd words and judges answers ------------------------------------------------
    no_address: str  # RequestAddress answered without an address (ipamapi.ErrNoIPReturned)
    ip_outside: str  # --ip outside every subnet ({ip})
    container_error_prefix: str  # before every docker run networking error (v28+)
    type_error_names_struct: bool  # "Go struct field RequestPoolResponse.PoolID"; False:
    #  ".PoolID" (a fact of the Go that built the daemon: sid's 28.5.2 is go1.27.1, trixie's
    #  26.1.5 go1.24.4 names the struct; 29 follows upstream's builds, which name it)
    logs_only: tuple[str, ...]  # endpoints whose failures fail the command on 20.10 but are
    #                             only logged by this line (28.5: NetworkDriver.EndpointOperInfo)
    structured_logs: bool  # a logged failure is msg="..." with the error and the endpoint as
    #                        fields (28.5.2), not one sentence (20.10.24, 26.1.5)


_SOURCE_READ = ""
VERSION_ROWS: dict[str, VersionRow] = {
    "20.10": VersionRow(
        name="20.10", major=20, first_major=20, verified="20.10.24 (Debian bookworm)",
        dummy_host=False, spaces_at_registration=True,
        spaces_per_create=False, spaces_per_request_pool=False, gw_alloc_check=False,
        enable_ipv4_option=False, ipv6_gateway_counts=False, endpoint_name_option=False,
        program_on_change=False, internal_skips_oper_info=False, canonical_subnets=False,
        daemon_checks_ip=False, oper_info_for_joined=True,
        program_no_proxy_6to4=False, driver_in_not_implemented=False,
        global_scope_needs_swarm=True, overlap_release_lifo=True,
        no_address="No address returned",
        ip_outside="Invalid address {ip}: It does not belong to any of this network's subnets",
        container_error_prefix="", type_error_names_struct=True, logs_only=(),
        structured_logs=False),
    "26": VersionRow(
        name="26", major=26, first_major=24, verified="26.1.5 (Debian trixie)",
        dummy_host=True, spaces_at_registration=False,
        spaces_per_create=True, spaces_per_request_pool=False, gw_alloc_check=False,
        enable_ipv4_option=False, ipv6_gateway_counts=False, endpoint_name_option=False,
        program_on_change=False, internal_skips_oper_info=True, canonical_subnets=True,
        daemon_checks_ip=True, oper_info_for_joined=True,
        program_no_proxy_6to4=False, driver_in_not_implemented=False,
        global_scope_needs_swarm=False, overlap_release_lifo=False,
        no_address="no address returned",
        ip_outside="no configured subnet or ip-range contain the IP address {ip}",
        container_error_prefix="", type_error_names_struct=True, logs_only=(),
        structured_logs=False),
    "27": VersionRow(
        name="27", major=27, first_major=27, verified=_SOURCE_READ,
        dummy_host=True, spaces_at_registration=False,
        spaces_per_create=True, spaces_per_request_pool=True, gw_alloc_check=False,
        enable_ipv4_option=False, ipv6_gateway_counts=False, endpoint_name_option=False,
        program_on_change=False, internal_skips_oper_info=True, canonical_subnets=True,
        daemon_checks_ip=True, oper_info_for_joined=True,
        program_no_proxy_6to4=False, driver_in_not_implemented=False,
        global_scope_needs_swarm=False, overlap_release_lifo=False,
        no_address="no address returned",
        ip_outside="no configured subnet or ip-range contain the IP address {ip}",
        container_error_prefix="", type_error_names_struct=True, logs_only=(),
        structured_logs=False),
    "28": VersionRow(
        name="28", major=28, first_major=28, verified="28.5.2 (Debian sid)",
        dummy_host=True, spaces_at_registration=False,
        spaces_per_create=True, spaces_per_request_pool=True, gw_alloc_check=True,
        enable_ipv4_option=True, ipv6_gateway_counts=True, endpoint_name_option=False,
        program_on_change=False, internal_skips_oper_info=True, canonical_subnets=True,
        daemon_checks_ip=True, oper_info_for_joined=False,
        program_no_proxy_6to4=True, driver_in_not_implemented=False,
        global_scope_needs_swarm=False, overlap_release_lifo=False,
        no_address="no address returned",
        ip_outside="no configured subnet or ip-range contain the IP address {ip}",
        container_error_prefix="failed to set up container networking: ",
        type_error_names_struct=False, logs_only=("NetworkDriver.EndpointOperInfo",),
        structured_logs=True),
    "29": VersionRow(
        name="29", major=29, first_major=29, verified=_SOURCE_READ,
        dummy_host=True, spaces_at_registration=False,
        spaces_per_create=True, spaces_per_request_pool=True, gw_alloc_check=True,
        enable_ipv4_option=True, ipv6_gateway_counts=True, endpoint_name_option=True,
        program_on_change=True, internal_skips_oper_info=True, canonical_subnets=True,
        daemon_checks_ip=True, oper_info_for_joined=False,
        program_no_proxy_6to4=False, driver_in_not_implemented=True,
        global_scope_needs_swarm=False, overlap_release_lifo=False,
        no_address="no address returned",
        ip_outside="no configured subnet contains IP address {ip}",
        container_error_prefix="failed to set up container networking: ",
        type_error_names_struct=True, logs_only=("NetworkDriver.EndpointOperInfo",),
        structured_logs=True),
}

ROW_FIELDS = tuple(f.name for f in fields(VersionRow))


class UnknownVersion(ValueError):
    """A Docker version that no row plays (``lookup``)."""


def row_of(major: int) -> VersionRow:
    """The row for a major version: <= 23 is 20.10's (and older ones too), 24-26 is 26's (v24
    moved the address space query to network create; the dummy Host came with 24.0.5), 29 and
    later are 29's."""
    rows = [r for r in VERSION_ROWS.values() if major >= r.first_major]
    if not rows:
        return VERSION_ROWS["20.10"]
    return max(rows, key=lambda r: r.first_major)


def lookup(text: str) -> VersionRow:
    """The row for a Docker version a user typed: ``20.10``/``20.10.24``/``23`` give 20.10,
    ``24`` to ``26.1.5`` 26, ``27.5.1`` 27, ``28.5.2`` 28, ``29`` and later 29 (UnknownVersion
    for text that is not a version, and for anything older than 20)."""
    cleaned = text.strip().lstrip("vV").split("+")[0].split("-")[0]
    if cleaned in VERSION_ROWS:
        return VERSION_ROWS[cleaned]
    head = cleaned.split(".")[0]
    if not head.isdigit() or not all(p.isdigit() for p in cleaned.split(".")):
        raise UnknownVersion(
            f"docker version {text!r} is not emulated; choose one of {', '.join(VERSION_ROWS)} "
            "(or a full version such as 28.5.2)")
    if int(head) < VERSION_ROWS["20.10"].first_major:
        raise UnknownVersion(f"docker version {text!r} is older than every emulated one "
                             f"({', '.join(VERSION_ROWS)})")
    return row_of(int(head))
