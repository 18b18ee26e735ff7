"""What differs between the dockerd versions the emulator plays (PROTOCOL.md sections 5 and 9).

One row per supported version; the flows read flags, never version numbers. Three rows are
verified against real daemons (``tests/docker_env.py`` runs them; captures in ``recordings/``
and ``scenarios/captures/``): ``20.10`` is 20.10.24 (empty ``Host``, IPAM releases before
``DeleteNetwork``), ``26`` is 26.1.5 (Debian trixie) and ``28`` is 28.5.2 (Debian sid). ``27``
and ``29`` follow the source as PROTOCOL.md describes it; where a real 28 differs from the
29 reading, 29 stays source-read (docs/versions.md lists each difference with its capture).
A full version maps to the nearest row at or below it (``lookup``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, kw_only=True)
class DockerVersion:
    name: str
    major: int
    dummy_host: bool  # Host: plugin.moby.localhost on unix sockets (20.10.26+, 23.0.7+, 24.0.5+)
    spaces_at_registration: bool  # IpamDriver handler calls GetDefaultAddressSpaces (<= v23)
    spaces_per_create: bool  # GetDefaultAddressSpaces once per network create (v24+)
    spaces_per_request_pool: bool  # ... and before every RequestPool (v27+)
    gw_alloc_check: bool  # NetworkDriver.GwAllocCheck when the driver asks (v28+)
    enable_ipv4_option: bool  # com.docker.network.enable_ipv4 in CreateNetwork (v28+)
    ipv6_gateway_counts: bool  # GatewayIPv6 and ::/0 count as a gateway (v28+)
    endpoint_name_option: bool  # com.docker.network.endpoint.name in RequestAddress (v29)
    program_on_change: bool  # the remote shim sends Program/Revoke only on change (v29)
    internal_skips_oper_info: bool  # no EndpointOperInfo before an internal endpoint (v29)
    canonical_subnets: bool  # the daemon refuses subnets with host bits (v25+)
    daemon_checks_ip: bool  # the daemon refuses --ip outside every subnet before IPAM (v26+)
    oper_info_for_joined: bool  # EndpointOperInfo to the joined endpoint first (until 28.x)
    program_no_proxy_6to4: bool  # sbJoin's Program carries no_proxy_6to4 always (v28)
    driver_in_not_implemented: bool  # "... requested implementation=..." suffix (v29)
    no_address: str  # RequestAddress answered without an address
    ip_outside: str  # --ip outside every subnet ({ip})
    endpoint_error_prefix: str  # before "failed to create endpoint ..."
    global_scope_needs_swarm: bool = False  # a global-scope driver's network outside swarm
    # mode: CreateNetwork, then refused and rolled back (20.10.24; 26.1.5 and 28.5.2 create it)


VERSIONS: dict[str, DockerVersion] = {
    "20.10": DockerVersion(
        name="20.10", major=20, dummy_host=False, spaces_at_registration=True,
        spaces_per_create=False, spaces_per_request_pool=False, gw_alloc_check=False,
        enable_ipv4_option=False, ipv6_gateway_counts=False, endpoint_name_option=False,
        program_on_change=False, internal_skips_oper_info=False, canonical_subnets=False,
        daemon_checks_ip=False, oper_info_for_joined=True,
        program_no_proxy_6to4=False, driver_in_not_implemented=False,
        no_address="No address returned",
        ip_outside="Invalid address {ip}: It does not belong to any of this network's subnets",
        endpoint_error_prefix="", global_scope_needs_swarm=True),
    "26": DockerVersion(
        name="26", major=26, dummy_host=True, spaces_at_registration=False,
        spaces_per_create=True, spaces_per_request_pool=False, gw_alloc_check=False,
        enable_ipv4_option=False, ipv6_gateway_counts=False, endpoint_name_option=False,
        program_on_change=False, internal_skips_oper_info=False, canonical_subnets=True,
        daemon_checks_ip=True, oper_info_for_joined=True,
        program_no_proxy_6to4=False, driver_in_not_implemented=False,
        no_address="no address returned",
        ip_outside="no configured subnet or ip-range contain the IP address {ip}",
        endpoint_error_prefix=""),
    "27": DockerVersion(
        name="27", major=27, dummy_host=True, spaces_at_registration=False,
        spaces_per_create=True, spaces_per_request_pool=True, gw_alloc_check=False,
        enable_ipv4_option=False, ipv6_gateway_counts=False, endpoint_name_option=False,
        program_on_change=False, internal_skips_oper_info=False, canonical_subnets=True,
        daemon_checks_ip=True, oper_info_for_joined=True,
        program_no_proxy_6to4=False, driver_in_not_implemented=False,
        no_address="no address returned",
        ip_outside="no configured subnet or ip-range contain the IP address {ip}",
        endpoint_error_prefix=""),
    "28": DockerVersion(
        name="28", major=28, dummy_host=True, spaces_at_registration=False,
        spaces_per_create=True, spaces_per_request_pool=True, gw_alloc_check=True,
        enable_ipv4_option=True, ipv6_gateway_counts=True, endpoint_name_option=False,
        program_on_change=False, internal_skips_oper_info=False, canonical_subnets=True,
        daemon_checks_ip=True, oper_info_for_joined=False,
        program_no_proxy_6to4=True, driver_in_not_implemented=False,
        no_address="no address returned",
        ip_outside="no configured subnet or ip-range contain the IP address {ip}",
        endpoint_error_prefix="failed to set up container networking: "),
    "29": DockerVersion(
        name="29", major=29, dummy_host=True, spaces_at_registration=False,
        spaces_per_create=True, spaces_per_request_pool=True, gw_alloc_check=True,
        enable_ipv4_option=True, ipv6_gateway_counts=True, endpoint_name_option=True,
        program_on_change=True, internal_skips_oper_info=True, canonical_subnets=True,
        daemon_checks_ip=True, oper_info_for_joined=False,
        program_no_proxy_6to4=False, driver_in_not_implemented=True,
        no_address="no address returned",
        ip_outside="no configured subnet contains IP address {ip}",
        endpoint_error_prefix="failed to set up container networking: "),
}


class UnknownVersion(ValueError):
    """A --docker-version the emulator does not play."""


# Which row plays a major version: <= 23 is 20.10's wire, 24-26 is 26's (v24 moved the address
# space query to network create and the dummy Host came with 24.0.5), 29 and later are 29's.
FIRST_MAJOR = {"20.10": 20, "26": 24, "27": 27, "28": 28, "29": 29}


def lookup(text: str) -> DockerVersion:
    """The row for a Docker version: ``20.10``/``20.10.24``/``23`` give 20.10, ``24`` to
    ``26.1.5`` 26, ``27.5.1`` 27, ``28.5.2`` 28, ``29`` and later 29 (UnknownVersion for text
    that is not a version, and for anything older than 20)."""
    cleaned = text.strip().lstrip("vV").split("+")[0].split("-")[0]
    if cleaned in VERSIONS:
        return VERSIONS[cleaned]
    head = cleaned.split(".")[0]
    if not head.isdigit() or not all(p.isdigit() for p in cleaned.split(".")):
        raise UnknownVersion(
            f"docker version {text!r} is not emulated; choose one of {', '.join(VERSIONS)} "
            "(or a full version such as 28.5.2)")
    major = int(head)
    names = [n for n, first in FIRST_MAJOR.items() if major >= first]
    if not names:
        raise UnknownVersion(f"docker version {text!r} is older than every emulated one "
                             f"({', '.join(VERSIONS)})")
    return VERSIONS[max(names, key=lambda n: FIRST_MAJOR[n])]
