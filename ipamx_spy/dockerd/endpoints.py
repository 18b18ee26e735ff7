"""The endpoint rows: every ``Plugin.*``, ``IpamDriver.*`` and ``NetworkDriver.*`` call.

One row per ``Endpoint`` says what the call is for, the Go types of its request and answer
(PROTOCOL.md 2 and 3), the Docker version that introduced it, which answer values the plugin
chooses and the rule each chosen value must meet (``validity``, ``dockerd/choices.py``: replay
checks those for validity, not equality), the word ``infer`` tokenises the call as, the
plain-words sentences for the request and for each outcome, and what dockerd does when the
call fails: fail the docker command (``FailureEffect.FAILS_COMMAND``, with the text the CLI
shows) or log it and carry on (``FailureEffect.LOGGED``, with the log line).
``verdict.read_answer`` reads these rows; ``tests/test_dockerd_rows.py`` fails when a row is
incomplete.

``Field`` types are a small vocabulary that the validator checks: ``str`` ``bool`` ``int``
``strlist`` ``strmap`` ``object`` ``list`` ``any``, ``cidr`` (never empty), ``cidr?`` (or
``""``), ``ip?`` (a plain IP or ``""``), ``scope`` (``"local"``/``"global"``), ``scope?``
(also ``""``); a type ending in ``|null`` also accepts JSON ``null``.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import choices, fieldtypes
from . import sentences as s
from .gotypes import ANY, ANYMAP, BOOL, INT, STRING, STRMAP, GoSlice, GoStruct, GoType
from .options import ENDPOINT_NAME_OPTION, MAC_OPTION
from .versions import DockerVersion

JSON = Any
Chosen = Callable[[Mapping[str, JSON]], tuple[str, ...]]


class Interface(enum.StrEnum):
    """The interfaces of a legacy plugin: the words before the dot of an endpoint's name, and
    what ``Plugin.Activate``'s ``Implements`` lists."""

    PLUGIN = "Plugin"
    IPAM = "IpamDriver"
    NETWORK = "NetworkDriver"


class _WireName:
    """What a call's wire name (``Interface.Method``) gives: the enums of dockerd's calls and of
    ipamx-spy's own share it."""

    value: str

    @property
    def interface(self) -> Interface:
        return Interface(self.value.split(".", 1)[0])

    @property
    def method(self) -> str:
        return self.value.split(".", 1)[1]

    @property
    def path(self) -> str:
        return "/" + self.value


class Endpoint(_WireName, enum.StrEnum):
    """Every call dockerd makes to a legacy network or IPAM plugin."""

    ACTIVATE = "Plugin.Activate"
    IPAM_GET_CAPABILITIES = "IpamDriver.GetCapabilities"
    GET_DEFAULT_ADDRESS_SPACES = "IpamDriver.GetDefaultAddressSpaces"
    REQUEST_POOL = "IpamDriver.RequestPool"
    RELEASE_POOL = "IpamDriver.ReleasePool"
    REQUEST_ADDRESS = "IpamDriver.RequestAddress"
    RELEASE_ADDRESS = "IpamDriver.ReleaseAddress"
    NET_GET_CAPABILITIES = "NetworkDriver.GetCapabilities"
    GW_ALLOC_CHECK = "NetworkDriver.GwAllocCheck"
    CREATE_NETWORK = "NetworkDriver.CreateNetwork"
    DELETE_NETWORK = "NetworkDriver.DeleteNetwork"
    ALLOCATE_NETWORK = "NetworkDriver.AllocateNetwork"
    FREE_NETWORK = "NetworkDriver.FreeNetwork"
    CREATE_ENDPOINT = "NetworkDriver.CreateEndpoint"
    ENDPOINT_OPER_INFO = "NetworkDriver.EndpointOperInfo"
    DELETE_ENDPOINT = "NetworkDriver.DeleteEndpoint"
    JOIN = "NetworkDriver.Join"
    LEAVE = "NetworkDriver.Leave"
    PROGRAM_EXTERNAL_CONNECTIVITY = "NetworkDriver.ProgramExternalConnectivity"
    REVOKE_EXTERNAL_CONNECTIVITY = "NetworkDriver.RevokeExternalConnectivity"
    DISCOVER_NEW = "NetworkDriver.DiscoverNew"
    DISCOVER_DELETE = "NetworkDriver.DiscoverDelete"

    @property
    def error_field(self) -> str | None:
        """The key that carries an error in a 200 answer (PROTOCOL.md 1.3): ``Error`` for
        IPAM, ``Err`` for the network driver, none for ``Plugin.Activate``."""
        if self is Endpoint.ACTIVATE:
            return None
        return "Error" if self.interface is Interface.IPAM else "Err"

    @property
    def other_error_field(self) -> str | None:
        """The other interface's error key (``Err`` in an IPAM answer, ``Error`` in a network
        driver's): no field of this answer, so dockerd ignores it and takes the answer as a
        success (Go's case-insensitive match does not make one the other); the validator's
        IPX103/IPX104 name that mistake."""
        if self is Endpoint.ACTIVATE:
            return None
        return "Err" if self.interface is Interface.IPAM else "Error"


class SpyCall(_WireName, enum.StrEnum):
    """ipamx-spy's own calls to its built-in allocator (``ipamx-spy status``, metrics
    scrapers), never made by dockerd: kept apart from ``Endpoint`` so that a recording, replay
    and the validator can tell a spy call from dockerd's."""

    LEASES = "IpamDriver.Leases"
    NETWORKS = "IpamDriver.Networks"
    METRICS = "IpamDriver.Metrics"
    VERSION = "IpamDriver.Version"
    CONFIGURATION = "IpamDriver.Configuration"
    SHUTDOWN = "IpamDriver.Shutdown"



class FailureEffect(enum.StrEnum):
    """What dockerd does when a call fails."""

    FAILS_COMMAND = "fails-command"  # the docker command that caused the call fails
    LOGGED = "logged"  # dockerd logs the error and carries on


class AddressRole(enum.StrEnum):
    """What an address is to dockerd, which a ``ReleaseAddress`` request does not say (it
    names only the PoolID and the address) but dockerd's log line does: a container
    endpoint's address (``docker rm``), the network's gateway or one of its ``--aux-address``
    addresses (both given back at ``docker network rm``, ``ipamReleaseVersion``). Whoever
    follows the session knows (``ledger.AddressRoles``); unknown reads as ``ENDPOINT``."""

    ENDPOINT = "endpoint"
    GATEWAY = "gateway"
    AUX = "aux"


@dataclass(frozen=True, kw_only=True)
class RoleWords:
    """A row's words for a failure when the address is of a given role (``Row.by_role``)."""

    log_line: str  # dockerd's log line, with {error} and request fields, as ``Row.log_line``
    failure_sentence: str  # what the failure means, as ``Row.failure_sentence``


class LedgerEffect(enum.StrEnum):
    """What a successful answer of an endpoint does to the ledger of pools and addresses the
    plugin has handed out (``dockerd/ledger.py``; the validator's cross-exchange rules and
    replay follow it). A row that names a PoolID has one (``tests/test_dockerd_rows.py``)."""

    ISSUE_POOL = "issue-pool"  # a PoolID for a pool; a gateway named in Data is handed out
    RELEASE_POOL = "release-pool"  # the PoolID is no longer held
    HAND_OUT_ADDRESS = "hand-out-address"  # an address of the PoolID's pool
    RELEASE_ADDRESS = "release-address"  # an address of the PoolID's pool is free again


class AnswerCheck(enum.StrEnum):
    """A check of an answer's values beyond their field types: against what dockerd asked
    for, or inside values the field vocabulary cannot see into (a struct, a list of structs).
    The validator implements each one (``validate/fields.py``); a row whose answer echoes a
    value of its request, or nests a struct, names at least one (``tests/test_dockerd_rows.py``).
    """

    POOL_AS_ASKED = "pool-as-asked"  # the pool and family asked for; Data's gateway inside it
    ADDRESS_AS_ASKED = "address-as-asked"  # the address asked for
    INTERFACE_FILLED_IN = "interface-filled-in"  # only the fields sent empty, each parseable
    STATIC_ROUTES = "static-routes"  # each route's destination and next hop parseable


@dataclass(frozen=True, kw_only=True)
class Field:
    """One JSON key of a request or response body, in the validator's type vocabulary."""

    name: str
    type: str
    required: bool = True
    missing: str = ""  # a required answer field: what dockerd does when it is missing or empty

    def problem(self, value: JSON) -> str | None:
        """Why dockerd would refuse ``value`` for this field (None: it takes it)."""
        return fieldtypes.problem(self.name, self.type, value)


@dataclass(frozen=True, kw_only=True)
class Row:
    """Everything ipamx-spy knows about one endpoint."""

    endpoint: Endpoint
    summary: str
    since: DockerVersion
    request_type: GoStruct | None  # None: dockerd sends an empty body (Content-Length: 0)
    response_type: GoStruct
    request: tuple[Field, ...] = ()
    response: tuple[Field, ...] = ()
    explain_request: s.Explain
    explain_success: s.Judge
    on_failure: FailureEffect
    failure_sentence: str  # what the failure means for the user, in plain words
    log_line: str = ""  # LOGGED: dockerd's log line, with {error} (and request fields)
    # LOGGED, on a daemon with VersionRow.structured_logs: the message it logs instead, the
    # error and the endpoint being fields of the line ("": the same log_line everywhere)
    log_message: str = ""
    # The log line and sentence when the address the call is about has a role other than a
    # container endpoint's (``AddressRole``; a role not listed keeps ``log_line``).
    by_role: Mapping[AddressRole, RoleWords] = field(default_factory=dict)
    # The log line and sentence for a kind of request that dockerd logs otherwise (None:
    # ``log_line``): a DiscoverNew about another gossip member is logged at debug level only.
    by_request: Callable[[Mapping[str, JSON]], RoleWords | None] = lambda _request: None
    cli_text: str = "Error response from daemon: {error}"  # FAILS_COMMAND: what the CLI shows
    chosen: Chosen = lambda _request: ()
    # One rule per path ``chosen`` can name: is the value the plugin picked one dockerd can
    # live with (``dockerd/choices.py``; replay applies them).
    validity: Mapping[str, choices.Rule] = field(default_factory=dict)
    token: str = ""  # the short word ``infer`` gives the call in its token stream
    tolerates_404: bool = False
    repeatable: bool = False  # read-only: dockerd may ask again and expects the same answer
    # Request paths (keys from the top) whose values dockerd makes up: random IDs, netns
    # paths, container names, random MACs. Mock binds them instead of comparing them.
    made_up: tuple[tuple[str, ...], ...] = ()
    ledger: LedgerEffect | None = None  # what a successful answer does to the ledger
    answer_checks: tuple[AnswerCheck, ...] = ()  # the validator's checks beyond field types

    @property
    def name(self) -> str:
        return self.endpoint.value

    def log_line_of(self, role: AddressRole | None) -> str:
        """``log_line`` for an address of ``role`` (None: not known, a container's)."""
        words = self.by_role.get(role) if role is not None else None
        return words.log_line if words is not None else self.log_line

    def failure_sentence_of(self, role: AddressRole | None) -> str:
        """``failure_sentence`` for an address of ``role`` (None: not known, a container's)."""
        words = self.by_role.get(role) if role is not None else None
        return words.failure_sentence if words is not None else self.failure_sentence

    @property
    def interface(self) -> Interface:
        return self.endpoint.interface

    @property
    def method(self) -> str:
        return self.endpoint.method

    @property
    def path(self) -> str:
        return self.endpoint.path

    @property
    def takes_body(self) -> bool:
        return self.request_type is not None

    @property
    def error_field(self) -> str:
        return self.endpoint.error_field or "Err"

    @property
    def errors_ignored(self) -> bool:
        return self.on_failure is FailureEffect.LOGGED

    @property
    def extension(self) -> bool:
        return False


@dataclass(frozen=True, kw_only=True)
class ExtensionRow:
    """One of ipamx-spy's own endpoints ("Lack of Endpoints"), never called by dockerd."""

    call: SpyCall
    summary: str
    request: tuple[Field, ...] = ()
    response: tuple[Field, ...] = ()
    tolerates_404: bool = False
    errors_ignored: bool = False
    takes_body: bool = False
    error_field: str = "Error"
    repeatable: bool = False
    made_up: tuple[tuple[str, ...], ...] = ()
    validity: Mapping[str, choices.Rule] = field(default_factory=dict)
    token: str = "other"
    ledger: LedgerEffect | None = None  # nothing an extension answers is handed out
    answer_checks: tuple[AnswerCheck, ...] = ()

    @property
    def extension(self) -> bool:
        return True

    @property
    def name(self) -> str:
        return self.call.value

    @property
    def interface(self) -> str:
        return self.call.interface

    @property
    def method(self) -> str:
        return self.call.method

    @property
    def path(self) -> str:
        return self.call.path

    def chosen(self, _request: Mapping[str, JSON]) -> tuple[str, ...]:
        return ()

    def explain_request(self, _body: Mapping[str, JSON]) -> str:
        return f"ipamx-spy extension: {self.summary}"

    def explain_success(self, _request: Mapping[str, JSON], _response: Mapping[str, JSON]) -> str:
        return ""


def _f(name: str, type_: str, required: bool = True, missing: str = "") -> Field:
    return Field(name=name, type=type_, required=required, missing=missing)


def _ipam(name: str, *fields: tuple[str, GoType]) -> GoStruct:
    return GoStruct(f"api.{name}", (("Error", STRING), *fields))


def _net(name: str, *fields: tuple[str, GoType]) -> GoStruct:
    return GoStruct(f"api.{name}", (("Err", STRING), *fields))


def _req(name: str, *fields: tuple[str, GoType]) -> GoStruct:
    return GoStruct(f"api.{name}", fields)


_V = DockerVersion
_INTERFACE = GoStruct("api.EndpointInterface", (
    ("Address", STRING), ("AddressIPv6", STRING), ("MacAddress", STRING)))
_IFNAME = GoStruct("api.InterfaceName", (
    ("SrcName", STRING), ("DstName", STRING), ("DstPrefix", STRING)))
_ROUTE = GoStruct("api.StaticRoute", (
    ("Destination", STRING), ("RouteType", INT), ("NextHop", STRING)))
_IPAM_DATA = GoStruct("driverapi.IPAMData", (
    ("AddressSpace", STRING), ("Pool", STRING), ("Gateway", STRING),
    ("AuxAddresses", STRMAP)))
_NET_EP_TYPES = (("NetworkID", STRING), ("EndpointID", STRING))
_NET_EP = (_f("NetworkID", "str"), _f("EndpointID", "str"))
_SANDBOX_OPTIONS = _f("Options", "object|null", required=False)
_NETWORK_ID: tuple[tuple[str, ...], ...] = (("NetworkID",),)
_ENDPOINT_IDS: tuple[tuple[str, ...], ...] = (("NetworkID",), ("EndpointID",))
_OPTION_IDS: tuple[tuple[str, ...], ...] = (
    ("Options", ENDPOINT_NAME_OPTION), ("Options", MAC_OPTION))
_DISCOVERY = _req("DiscoveryNotification", ("DiscoveryType", INT), ("DiscoveryData", ANY))


def _said(words: str) -> s.Judge:
    return lambda _request, _response: words


_GOSSIP_DISCOVERY = RoleWords(log_line="<debug level only>",
                              failure_sentence="dockerd carries on (logged at debug level)")


def _self_discovery(request: Mapping[str, JSON]) -> bool:
    """A DiscoverNew about the node itself, sent when the driver registers on a swarm node
    (its ``DiscoveryData`` names a ``BindAddress``); an empty request counts as one."""
    data = request.get("DiscoveryData")
    return not request or (isinstance(data, Mapping) and bool(data.get("BindAddress")))


def _request_pool_chosen(request: Mapping[str, JSON]) -> tuple[str, ...]:
    return ("PoolID", "Data") if request.get("Pool") else ("PoolID", "Data", "Pool")


_RELEASE = "nothing: a release never fails a docker command"

ROWS: tuple[Row, ...] = (
    Row(
        endpoint=Endpoint.ACTIVATE, since=_V(1, 7),
        token="activate",
        repeatable=True,
        summary="handshake: which APIs the plugin implements",
        request_type=None,
        response_type=GoStruct("plugins.Manifest", (("Implements", GoSlice(STRING)),)),
        response=(_f("Implements", "strlist|null", missing=(
            "dockerd can use the plugin neither as a network driver nor as an allocator "
            "('Plugin does not implement the requested driver')")),),
        explain_request=lambda _b: ("dockerd activates the plugin "
                                    "(once per daemon lifetime per name)"),
        explain_success=s._activate_answer,
        on_failure=FailureEffect.FAILS_COMMAND,
        failure_sentence="dockerd cannot activate the plugin: the command that needed it fails",
    ),
    Row(
        endpoint=Endpoint.IPAM_GET_CAPABILITIES, since=_V(1, 10),
        token="caps",
        repeatable=True,
        summary="what the allocator needs from dockerd",
        request_type=None,
        response_type=_ipam("GetCapabilityResponse", ("RequiresMACAddress", BOOL),
                            ("RequiresRequestReplay", BOOL)),
        response=(_f("RequiresMACAddress", "bool", False),
                  _f("RequiresRequestReplay", "bool", False)),
        explain_request=lambda _b: "dockerd asks what the allocator needs (MAC addresses, replay)",
        explain_success=s._ipam_caps_answer,
        on_failure=FailureEffect.LOGGED,
        failure_sentence=("dockerd registers the allocator with default capabilities (no MAC "
                          "addresses, no replay) and carries on"),
        log_line="remote ipam driver <name> does not support capabilities",
    ),
    Row(
        endpoint=Endpoint.GET_DEFAULT_ADDRESS_SPACES, since=_V(1, 9),
        token="spaces",
        validity={"LocalDefaultAddressSpace": choices.non_empty,
                  "GlobalDefaultAddressSpace": choices.non_empty},
        repeatable=True,
        summary="names of the local and global address spaces",
        request_type=None,
        response_type=_ipam("GetAddressSpacesResponse", ("LocalDefaultAddressSpace", STRING),
                            ("GlobalDefaultAddressSpace", STRING)),
        response=(_f("LocalDefaultAddressSpace", "str", missing=(
                      "dockerd sends RequestPool with an empty AddressSpace")),
                  _f("GlobalDefaultAddressSpace", "str", missing=(
                      "dockerd sends RequestPool with an empty AddressSpace for swarm-scope "
                      "networks"))),
        explain_request=lambda _b: "dockerd asks for the names of the default address spaces",
        explain_success=s._spaces_answer,
        chosen=lambda _r: ("LocalDefaultAddressSpace", "GlobalDefaultAddressSpace"),
        on_failure=FailureEffect.FAILS_COMMAND,
        failure_sentence=("the allocator is not registered (up to v23) or the network create "
                          "fails (v24+)"),
    ),
    Row(
        endpoint=Endpoint.REQUEST_POOL, since=_V(1, 9),
        ledger=LedgerEffect.ISSUE_POOL, answer_checks=(AnswerCheck.POOL_AS_ASKED,),
        token="pool",
        validity={"PoolID": choices.pool_id, "Pool": choices.dynamic_pool,
                  "Data": choices.pool_data},
        made_up=_OPTION_IDS,
        summary="reserve an IP address range (docker network create)",
        request_type=_req("RequestPoolRequest", ("AddressSpace", STRING), ("Pool", STRING),
                          ("SubPool", STRING), ("Options", STRMAP), ("V6", BOOL)),
        request=(_f("AddressSpace", "str"), _f("Pool", "cidr?"), _f("SubPool", "cidr?"),
                 _f("Options", "strmap|null"), _f("V6", "bool")),
        response_type=_ipam("RequestPoolResponse", ("PoolID", STRING), ("Pool", STRING),
                            ("Data", STRMAP)),
        response=(_f("PoolID", "str", missing=(
                      "later calls for this network carry an empty PoolID")),
                  _f("Pool", "cidr", missing=(
                      "dockerd fails the network creation with 'invalid CIDR address: '")),
                  _f("Data", "strmap|null", False)),
        explain_request=s._request_pool_ask,
        explain_success=s._request_pool_answer,
        chosen=_request_pool_chosen,
        on_failure=FailureEffect.FAILS_COMMAND,
        failure_sentence="docker network create fails",
    ),
    Row(
        endpoint=Endpoint.RELEASE_POOL, since=_V(1, 9),
        ledger=LedgerEffect.RELEASE_POOL,
        token="relpool",
        summary="give back an IP address range (docker network rm)",
        request_type=_req("ReleasePoolRequest", ("PoolID", STRING)),
        request=(_f("PoolID", "str"),),
        response_type=_ipam("ReleasePoolResponse"),
        explain_request=s._release_pool_ask,
        explain_success=_said("the pool is released"),
        on_failure=FailureEffect.LOGGED,
        failure_sentence=("docker network rm still succeeds; dockerd forgets the pool, the "
                          "plugin may still hold it"),
        log_line=("Failed to release address pool {PoolID} on delete of network <name> "
                  "(<id>): {error}"),
    ),
    Row(
        endpoint=Endpoint.REQUEST_ADDRESS, since=_V(1, 9),
        ledger=LedgerEffect.HAND_OUT_ADDRESS, answer_checks=(AnswerCheck.ADDRESS_AS_ASKED,),
        token="addr",
        validity={"Address": choices.picked_address},
        made_up=_OPTION_IDS,
        summary="reserve one IP address (gateway, aux address or container)",
        request_type=_req("RequestAddressRequest", ("PoolID", STRING), ("Address", STRING),
                          ("Options", STRMAP)),
        request=(_f("PoolID", "str"), _f("Address", "ip?"), _f("Options", "strmap|null")),
        response_type=_ipam("RequestAddressResponse", ("Address", STRING), ("Data", STRMAP)),
        response=(_f("Address", "cidr", missing=(
                      "dockerd fails the call with 'no address returned' ('No address "
                      "returned' up to v23)")),
                  _f("Data", "strmap|null", False)),
        explain_request=s._request_address_ask,
        explain_success=s._request_address_answer,
        chosen=lambda req: () if req.get("Address") else ("Address",),
        on_failure=FailureEffect.FAILS_COMMAND,
        failure_sentence="the docker command fails",
    ),
    Row(
        endpoint=Endpoint.RELEASE_ADDRESS, since=_V(1, 9),
        ledger=LedgerEffect.RELEASE_ADDRESS,
        token="rel",
        summary="free one IP address",
        request_type=_req("ReleaseAddressRequest", ("PoolID", STRING), ("Address", STRING)),
        request=(_f("PoolID", "str"), _f("Address", "ip?")),
        response_type=_ipam("ReleaseAddressResponse"),
        explain_request=s._release_address_ask,
        explain_success=_said("the address is free again"),
        on_failure=FailureEffect.LOGGED,
        failure_sentence=("the docker command still succeeds; dockerd forgets the address, "
                          "but the plugin may still count it as in use"),
        log_line=("Failed to release ip address {Address} on delete of endpoint <name> (<id>): "
                  "{error}"),
        # network rm (ipamReleaseVersion, the same words in 20.10.24, 26.1.5 and 28.5.2, a
        # sentence on each): the gateway, then each --aux-address (<aux>: its name), then
        # ReleasePool.
        by_role={
            AddressRole.GATEWAY: RoleWords(
                log_line=("Failed to release gateway ip address {Address} on delete of "
                          "network <name> (<id>): {error}"),
                failure_sentence=("docker network rm still succeeds; dockerd forgets the "
                                  "gateway address, but the plugin may still count it as in "
                                  "use")),
            AddressRole.AUX: RoleWords(
                log_line=("Failed to release secondary ip address <aux> ({Address}) on delete "
                          "of network <name> (<id>): {error}"),
                failure_sentence=("docker network rm still succeeds; dockerd forgets the "
                                  "--aux-address, but the plugin may still count it as in "
                                  "use")),
        },
    ),
    Row(
        endpoint=Endpoint.NET_GET_CAPABILITIES, since=_V(1, 9),
        token="caps",
        repeatable=True,
        summary="the driver's scope and options",
        request_type=None,
        response_type=_net("GetCapabilityResponse", ("Scope", STRING),
                           ("ConnectivityScope", STRING), ("GwAllocChecker", BOOL)),
        response=(_f("Scope", "scope", missing=(
                      "dockerd does not register the driver ('invalid capability: expecting "
                      "'local' or 'global', got '), and network creation fails with 'could not "
                      "resolve driver'")),
                  _f("ConnectivityScope", "scope?", False),
                  _f("GwAllocChecker", "bool", False)),
        explain_request=lambda _b: "dockerd asks the network driver for its scope",
        explain_success=s._net_caps_answer,
        on_failure=FailureEffect.FAILS_COMMAND,
        failure_sentence=("the driver is not registered: docker network create -d fails "
                          "('could not resolve driver … in registry')"),
    ),
    Row(
        endpoint=Endpoint.GW_ALLOC_CHECK, since=_V(28),
        token="gwcheck",
        made_up=_OPTION_IDS,
        summary="may dockerd skip reserving gateways? (v28+)",
        request_type=_req("GwAllocCheckerRequest", ("Options", ANYMAP)),
        request=(_f("Options", "object|null"),),
        response_type=_net("GwAllocCheckerResponse", ("SkipIPv4", BOOL), ("SkipIPv6", BOOL)),
        response=(_f("SkipIPv4", "bool", False), _f("SkipIPv6", "bool", False)),
        explain_request=lambda _b: "dockerd asks whether the driver needs IPAM gateways",
        explain_success=s._gw_check_answer,
        on_failure=FailureEffect.FAILS_COMMAND,
        failure_sentence="docker network create fails",
    ),
    Row(
        endpoint=Endpoint.CREATE_NETWORK, since=_V(1, 9),
        token="net",
        made_up=(*_NETWORK_ID, *_OPTION_IDS),
        summary="create a network (docker network create)",
        request_type=_req("CreateNetworkRequest", ("NetworkID", STRING), ("Options", ANYMAP),
                          ("IPv4Data", GoSlice(_IPAM_DATA)), ("IPv6Data", GoSlice(_IPAM_DATA))),
        request=(_f("NetworkID", "str"), _f("Options", "object|null"),
                 _f("IPv4Data", "list|null"), _f("IPv6Data", "list|null")),
        response_type=_net("CreateNetworkResponse"),
        explain_request=s._create_network_ask,
        explain_success=_said("the driver created the network"),
        on_failure=FailureEffect.FAILS_COMMAND,
        failure_sentence="docker network create fails; dockerd releases the IPAM reservations",
    ),
    Row(
        endpoint=Endpoint.DELETE_NETWORK, since=_V(1, 9),
        token="delnet",
        made_up=_NETWORK_ID,
        summary="delete a network (docker network rm)",
        request_type=_req("DeleteNetworkRequest", ("NetworkID", STRING)),
        request=(_f("NetworkID", "str"),),
        response_type=_net("DeleteNetworkResponse"),
        explain_request=s._network_ask("delete"),
        explain_success=_said("the driver deleted the network"),
        on_failure=FailureEffect.LOGGED,
        failure_sentence="docker network rm still succeeds; the driver may keep the network",
        log_line="driver error deleting network <name> : {error}",
    ),
    Row(
        endpoint=Endpoint.ALLOCATE_NETWORK, since=_V(1, 13),
        token="alloc",
        validity={"Options": choices.type_checked},
        made_up=(*_NETWORK_ID, *_OPTION_IDS),
        summary="swarm manager: allocate driver state for a network",
        request_type=_req("AllocateNetworkRequest", ("NetworkID", STRING), ("Options", STRMAP),
                          ("IPv4Data", GoSlice(_IPAM_DATA)), ("IPv6Data", GoSlice(_IPAM_DATA))),
        request=(_f("NetworkID", "str"), _f("Options", "strmap|null"),
                 _f("IPv4Data", "list|null"), _f("IPv6Data", "list|null")),
        response_type=_net("AllocateNetworkResponse", ("Options", STRMAP)),
        response=(_f("Options", "strmap|null", False),),
        explain_request=s._network_ask("swarm manager allocates"),
        explain_success=_said("the returned Options become the network's driver state, passed "
                              "to every node's CreateNetwork"),
        chosen=lambda _r: ("Options",),
        # Observed on 20.10.24, 26.1.5 and 28.5.2 (tests/test_dockerd_swarm_verdict.py): the
        # manager's allocator calls after docker network create returned (a managed plugin
        # whose Scope is global; swarm refuses a legacy one) and logs the failure; the
        # network stays unallocated and the allocator tries it again later.
        on_failure=FailureEffect.LOGGED,
        failure_sentence=("docker network create has already succeeded; the swarm manager "
                          "logs it and leaves the network unallocated (no task can use it) "
                          "until a later try succeeds"),
        log_line=('msg="Failed allocation for network {NetworkID}" error="failed while '
                  'allocating driver state for network {NetworkID}: {error}"'),
    ),
    Row(
        endpoint=Endpoint.FREE_NETWORK, since=_V(1, 13),
        token="free",
        made_up=_NETWORK_ID,
        summary="swarm manager: free a network's driver state",
        request_type=_req("FreeNetworkRequest", ("NetworkID", STRING)),
        request=(_f("NetworkID", "str"),),
        response_type=_net("FreeNetworkResponse"),
        explain_request=s._network_ask("swarm manager frees"),
        explain_success=_said("the driver freed the network's state"),
        # Observed as AllocateNetwork: after docker network rm returned.
        on_failure=FailureEffect.LOGGED,
        failure_sentence=("docker network rm has already succeeded; the swarm manager logs "
                          "it and the network is gone all the same (its pools are not "
                          "released)"),
        log_line=('msg="Failed during network free for network {NetworkID}" error="failed to '
                  'free driver state for network {NetworkID}: {error}"'),
    ),
    Row(
        endpoint=Endpoint.CREATE_ENDPOINT, since=_V(1, 9),
        answer_checks=(AnswerCheck.INTERFACE_FILLED_IN,),
        token="ep",
        validity={"Interface.MacAddress": choices.type_checked},
        made_up=(*_ENDPOINT_IDS, ("Interface", "MacAddress"), *_OPTION_IDS),
        summary="create a container's endpoint (docker run, network connect)",
        request_type=_req("CreateEndpointRequest", *_NET_EP_TYPES, ("Interface", _INTERFACE),
                          ("Options", ANYMAP)),
        request=(*_NET_EP, _f("Interface", "object|null"), _f("Options", "object|null")),
        response_type=_net("CreateEndpointResponse", ("Interface", _INTERFACE)),
        response=(_f("Interface", "object|null", False),),
        explain_request=s._create_endpoint_ask,
        explain_success=s._create_endpoint_answer,
        chosen=lambda _r: ("Interface.MacAddress",),
        on_failure=FailureEffect.FAILS_COMMAND,
        failure_sentence="docker run (or network connect) fails; dockerd releases the address",
        cli_text=("Error response from daemon: failed to create endpoint <container> on "
                  "network <network>: {error}"),
    ),
    Row(
        endpoint=Endpoint.ENDPOINT_OPER_INFO, since=_V(1, 9),
        token="info",
        validity={"Value": choices.type_checked},
        repeatable=True,
        made_up=_ENDPOINT_IDS,
        summary="operational data of an endpoint (effectively unused by dockerd)",
        request_type=_req("EndpointInfoRequest", *_NET_EP_TYPES),
        request=_NET_EP,
        response_type=_net("EndpointInfoResponse", ("Value", ANYMAP)),
        response=(_f("Value", "object|null", False),),
        explain_request=s._endpoint_ask("dockerd asks for operational data of"),
        explain_success=lambda _r, resp: (
            f"the driver reports {', '.join(sorted(resp.get('Value') or {})) or 'nothing'}; "
            "dockerd does not use it"),
        chosen=lambda _req: ("Value",),
        # Observed on 20.10.24 (tests/test_dockerd_real.py): an error after Join fails docker
        # run ("Updating join info failed"), though the value itself is unused.
        on_failure=FailureEffect.FAILS_COMMAND,
        failure_sentence="docker run (or network connect) fails after the join",
        cli_text="Error response from daemon: Updating join info failed: {error}",
    ),
    Row(
        endpoint=Endpoint.DELETE_ENDPOINT, since=_V(1, 9),
        token="delep",
        made_up=_ENDPOINT_IDS,
        summary="delete a container's endpoint",
        request_type=_req("DeleteEndpointRequest", *_NET_EP_TYPES),
        request=_NET_EP,
        response_type=_net("DeleteEndpointResponse"),
        explain_request=lambda b: (s._endpoint_ask("delete")(b)
                                   + "; the IPAM ReleaseAddress follows"),
        explain_success=_said("the driver deleted the endpoint"),
        on_failure=FailureEffect.LOGGED,
        failure_sentence="the docker command still succeeds; the driver may keep the endpoint",
        log_line="driver error deleting endpoint <name> : {error}",
    ),
    Row(
        endpoint=Endpoint.JOIN, since=_V(1, 9),
        answer_checks=(AnswerCheck.STATIC_ROUTES,),
        token="join",
        validity={"InterfaceName.SrcName": choices.type_checked},
        made_up=(*_ENDPOINT_IDS, ("SandboxKey",), *_OPTION_IDS),
        summary="attach a container's sandbox to an endpoint",
        request_type=_req("JoinRequest", *_NET_EP_TYPES, ("SandboxKey", STRING),
                          ("Options", ANYMAP)),
        request=(*_NET_EP, _f("SandboxKey", "str"), _SANDBOX_OPTIONS),
        response_type=_net("JoinResponse", ("InterfaceName", _IFNAME), ("Gateway", STRING),
                           ("GatewayIPv6", STRING), ("StaticRoutes", GoSlice(_ROUTE)),
                           ("DisableGatewayService", BOOL)),
        response=(_f("InterfaceName", "object|null", False), _f("Gateway", "ip?", False),
                  _f("GatewayIPv6", "ip?", False), _f("StaticRoutes", "list|null", False),
                  _f("DisableGatewayService", "bool", False)),
        explain_request=s._join_ask,
        explain_success=s._join_answer,
        chosen=lambda _r: ("InterfaceName.SrcName",),
        on_failure=FailureEffect.FAILS_COMMAND,
        failure_sentence="docker run (or network connect) fails and dockerd rolls back",
    ),
    Row(
        endpoint=Endpoint.LEAVE, since=_V(1, 9),
        token="leave",
        made_up=_ENDPOINT_IDS,
        summary="detach a container's sandbox from an endpoint",
        request_type=_req("LeaveRequest", *_NET_EP_TYPES),
        request=_NET_EP,
        response_type=_net("LeaveResponse"),
        explain_request=lambda b: (s._endpoint_ask("container leaves")(b) + "; dockerd moves "
                                   "the interface back to the host, DeleteEndpoint follows"),
        explain_success=_said("the driver detached the container"),
        on_failure=FailureEffect.LOGGED,
        failure_sentence="the docker command still succeeds; DeleteEndpoint follows anyway",
        log_line="driver error disconnecting container <name> : {error}",
        log_message="driver error disconnecting container",
    ),
    Row(
        endpoint=Endpoint.PROGRAM_EXTERNAL_CONNECTIVITY, since=_V(1, 11),
        token="prog",
        made_up=(*_ENDPOINT_IDS, *_OPTION_IDS),
        summary="set up outside access (port mappings) for the gateway endpoint",
        request_type=_req("ProgramExternalConnectivityRequest", *_NET_EP_TYPES,
                          ("Options", ANYMAP)),
        request=(*_NET_EP, _SANDBOX_OPTIONS),
        response_type=_net("ProgramExternalConnectivityResponse"),
        explain_request=s._program_ask,
        explain_success=_said("the driver set up outside access"),
        tolerates_404=True,
        on_failure=FailureEffect.FAILS_COMMAND,
        failure_sentence="docker run (or network connect) fails and dockerd rolls back",
        cli_text=("Error response from daemon: driver failed programming external "
                  "connectivity on endpoint <name> (<id>): {error}"),
    ),
    Row(
        endpoint=Endpoint.REVOKE_EXTERNAL_CONNECTIVITY, since=_V(1, 11),
        token="revoke",
        made_up=_ENDPOINT_IDS,
        summary="remove outside access for an endpoint",
        request_type=_req("RevokeExternalConnectivityRequest", *_NET_EP_TYPES),
        request=_NET_EP,
        response_type=_net("RevokeExternalConnectivityResponse"),
        explain_request=lambda b: (s._endpoint_ask("revoke outside access for")(b) + ", which "
                                   "stops being the container's gateway endpoint"),
        explain_success=_said("the driver removed outside access"),
        tolerates_404=True,
        on_failure=FailureEffect.LOGGED,
        failure_sentence="docker stop (or disconnect) still succeeds",
        log_line=("driver failed revoking external connectivity on endpoint <name> (<id>): "
                  "{error}"),
        log_message="driver failed revoking external connectivity on endpoint",
    ),
    Row(
        endpoint=Endpoint.DISCOVER_NEW, since=_V(1, 9),
        token="disc",
        summary="swarm: a node appeared",
        request_type=_DISCOVERY,
        request=(_f("DiscoveryType", "int"), _f("DiscoveryData", "object|null")),
        response_type=_net("DiscoveryResponse"),
        explain_request=s._discover_ask("joined"),
        explain_success=_said("the driver noted the node"),
        # Observed on 20.10.24, 26.1.5 and 28.5.2 (tests/test_dockerd_swarm_verdict.py): a
        # driver registered on a swarm node is told the node's own address (BindAddress
        # set) and a failure is a warning; another gossip member joining (BindAddress "",
        # ConnectivityScope global drivers only) is logged at debug level (a 200 body the
        # plugin layer cannot decode aside: verdict.py words its line).
        on_failure=FailureEffect.LOGGED,
        failure_sentence=("the docker command still succeeds; dockerd logs a warning and the "
                          "driver does not learn this node's address"),
        log_line="Failed the node discovery in driver: {error}",
        by_request=lambda request: None if _self_discovery(request) else _GOSSIP_DISCOVERY,
    ),
    Row(
        endpoint=Endpoint.DISCOVER_DELETE, since=_V(1, 9),
        token="disc",
        summary="swarm: a node went away",
        request_type=_DISCOVERY,
        request=(_f("DiscoveryType", "int"), _f("DiscoveryData", "object|null")),
        response_type=_net("DiscoveryResponse"),
        explain_request=s._discover_ask("left"),
        explain_success=_said("the driver noted the departure"),
        # Observed as another member's DiscoverNew (tests/test_dockerd_swarm_verdict.py: a
        # second node joins the swarm and leaves it).
        on_failure=FailureEffect.LOGGED,
        failure_sentence="dockerd carries on (logged at debug level)",
        log_line="<debug level only>",
    ),
)

EXTENSIONS: tuple[ExtensionRow, ...] = (
    ExtensionRow(call=SpyCall.LEASES, summary="list every allocation with its pool and time"),
    ExtensionRow(call=SpyCall.NETWORKS, summary="list pools and their usage"),
    ExtensionRow(call=SpyCall.METRICS,
                 summary="Prometheus metrics: calls, errors, pool utilisation"),
    ExtensionRow(call=SpyCall.VERSION, summary="versions of the plugin and its protocol"),
    ExtensionRow(call=SpyCall.CONFIGURATION, summary="the allocator's configuration"),
    ExtensionRow(call=SpyCall.SHUTDOWN, summary="stop the plugin gracefully"),
)

ROW: dict[Endpoint, Row] = {row.endpoint: row for row in ROWS}
BY_NAME: dict[str, Row] = {row.name: row for row in ROWS}
EXTENSION_BY_NAME: dict[str, ExtensionRow] = {row.name: row for row in EXTENSIONS}
SPY_ROW: dict[SpyCall, ExtensionRow] = {row.call: row for row in EXTENSIONS}
_SPY_CALLS: dict[str, SpyCall] = {call.value: call for call in SpyCall}
AnyRow = Row | ExtensionRow
ALL_ROWS: tuple[AnyRow, ...] = (*ROWS, *EXTENSIONS)  # dockerd's calls, then ipamx-spy's own
ANY_BY_NAME: dict[str, AnyRow] = {row.name: row for row in ALL_ROWS}


def endpoint_name(target: str) -> str:
    """The endpoint name of a request target, known or not (``/Foo.Bar?x`` -> ``Foo.Bar``)."""
    return target.split("?", 1)[0].lstrip("/") or "/"


def parse_endpoint(target: str | Endpoint) -> Endpoint | None:
    """The ``Endpoint`` of a name or request target (``/IpamDriver.RequestPool``), or None."""
    if isinstance(target, Endpoint):
        return target
    try:
        return Endpoint(endpoint_name(target))
    except ValueError:
        return None


def parse_spy_call(target: str | SpyCall) -> SpyCall | None:
    """The ``SpyCall`` of a name or request target (``/IpamDriver.Leases``), or None (dockerd's
    calls and unknown names)."""
    if isinstance(target, SpyCall):
        return target
    return _SPY_CALLS.get(endpoint_name(target))


def lookup(target: str) -> AnyRow | None:
    """The row of a request target such as ``/IpamDriver.RequestPool``, an extension's
    included (or None)."""
    return ANY_BY_NAME.get(endpoint_name(target))


def row_for(target: str | Endpoint) -> Row | None:
    """The row of a Docker endpoint (by enum, name or request target), or None."""
    named = BY_NAME.get(target)  # a name or an enum (a str): every reader's common case
    if named is not None:
        return named
    endpoint = parse_endpoint(target)
    return None if endpoint is None else ROW[endpoint]


@functools.lru_cache(maxsize=256)
def response_type(endpoint: Endpoint, version: DockerVersion) -> GoStruct:
    """The Go type dockerd ``version`` decodes a 200 answer into (fields it does not know yet
    are left out, so it ignores them as unknown keys)."""
    struct = ROW[endpoint].response_type
    kept = tuple(f for f in struct.fields if FIELD_SINCE.get((endpoint, f[0]), _V(0)) <= version)
    # sid's 28.5.2 (its Go toolchain) leaves the struct's name out of a type error: ".PoolID"
    return GoStruct(struct.name if version.row.type_error_names_struct else "", kept)


# Response fields dockerd only knows from a version on (older daemons ignore the key).
FIELD_SINCE: dict[tuple[Endpoint, str], DockerVersion] = {
    (Endpoint.NET_GET_CAPABILITIES, "ConnectivityScope"): _V(17, 6),
    (Endpoint.NET_GET_CAPABILITIES, "GwAllocChecker"): _V(28),
    (Endpoint.IPAM_GET_CAPABILITIES, "RequiresRequestReplay"): _V(1, 12),
}

