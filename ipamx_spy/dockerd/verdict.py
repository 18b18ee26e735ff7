"""The verdict: what dockerd makes of one plugin answer (PROTOCOL.md 1.3, 1.6 and 4).

``read_answer(endpoint, status, headers, body, docker_version)`` returns a ``Verdict``:

- ``Outcome.SUCCESS``: dockerd takes the answer; ``used`` is what it stores from it (keys
  renamed to Go field names, as Go's decoder matches them case-insensitively);
- ``Outcome.FAILS_COMMAND``: the docker command that caused the call fails; ``cli_text`` is
  what the CLI prints (``Error response from daemon: …``);
- ``Outcome.LOGGED``: dockerd logs the error (``log_line``) and carries on: releases,
  deletes, ``IpamDriver.GetCapabilities`` (registered with default capabilities).

``error`` is the Go error dockerd's plugin layer returns, in dockerd's words: ``<Endpoint>:
<Err or raw body>`` for a non-200 answer (a 404 to Program/RevokeExternalConnectivity is
success), the decoder's error for a 200 body (``EOF``, ``invalid character …``, ``json:
cannot unmarshal …``), ``remote: <Error>`` (IPAM) or ``remote: <Err>`` (network driver) for the
in-body error field, then dockerd's own checks of what it uses (``invalid CIDR address: …``,
``No address returned``, ``invalid capability: …``).

``read_no_answer(endpoint, failure, docker_version, attempt=…)`` is the verdict on a call that
got no answer at all: dockerd retries (``Outcome.RETRIED``) on a backoff of 1, 2, 4, 8 s and
gives up about 15 s after the first attempt; a retry after the request was sent goes out with
an empty body.

Every sentence, finding, ``problem`` field, ``--errors`` filter, replay outcome and emulator
decision comes from here.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import gojson, goparse
from .endpoints import AddressRole, Endpoint, FailureEffect, Row, parse_endpoint, response_type
from .gotypes import GoKind, GoStruct
from .options import GATEWAY_LABEL, GATEWAY_OPTION
from .scopes import capability_scope
from .versions import DockerVersion, VersionRow, fact

JSON = Any
Headers = Sequence[tuple[str, str]] | Mapping[str, str] | None


class Outcome(enum.StrEnum):
    SUCCESS = "success"
    FAILS_COMMAND = "fails-command"
    LOGGED = "logged"
    RETRIED = "retried"  # no answer: dockerd tries again (read_no_answer)

    @property
    def failed(self) -> bool:
        return self in (Outcome.FAILS_COMMAND, Outcome.LOGGED)


class NoAnswer(enum.StrEnum):
    """Why a call got no answer."""

    REFUSED = "refused"  # nothing was sent: socket missing, connection refused
    CLOSED = "closed"  # the request was sent, the connection closed without an answer


@dataclass(frozen=True, kw_only=True)
class Verdict:
    """What dockerd makes of one answer (or of a call that got none)."""

    endpoint: Endpoint | None
    name: str
    outcome: Outcome
    status: int = 0
    error: str | None = None  # the error dockerd acts on (plugin layer, then its own checks)
    plugin_error: str | None = None  # the plugin layer's alone: status, decoding, error field
    cli_text: str | None = None  # FAILS_COMMAND: what the docker CLI prints
    log_line: str | None = None  # LOGGED: dockerd's log line
    effect: str | None = None  # what the failure means, when the version differs from the row
    used: Mapping[str, JSON] = field(default_factory=dict)  # what dockerd keeps (Go names)
    decoded: gojson.Decoded | None = None  # a 200 body as Go's decoder saw it
    retry_after: float | None = None  # RETRIED: seconds until the next attempt
    retry_empty_body: bool = False  # RETRIED: the retry carries Content-Length: 0
    role: AddressRole | None = None  # what the address is to dockerd (None: not known)

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.SUCCESS

    @property
    def failed(self) -> bool:
        return self.outcome.failed

    @property
    def shown_log_line(self) -> str | None:
        """LOGGED: the line dockerd writes at its default log level (None: a debug line, or
        not a logged failure), for a problem line to show."""
        if self.outcome is not Outcome.LOGGED or self.log_line in (None, DEBUG_ONLY):
            return None
        return self.log_line

    @property
    def sentence(self) -> str:
        """The outcome in plain words (without the request)."""
        row = _row(self.endpoint)
        if self.outcome is Outcome.SUCCESS:
            if row is None:
                return "the plugin answered"
            return row.explain_success({}, self.used) or "the plugin answered"
        if self.outcome is Outcome.RETRIED:
            body = " with an empty body (its request buffer was drained)" if \
                self.retry_empty_body else ""
            return (f"no answer ({self.error}): dockerd tries again in {self.retry_after:g} s"
                    f"{body}")
        what = self.effect or (row.failure_sentence_of(self.role) if row is not None
                               else "the call fails")
        if self.outcome is Outcome.LOGGED:
            return f"the plugin refused: {self.error}; dockerd only logs it: {what}"
        return f"the plugin refused: {self.error}; {what}"


def _row(endpoint: Endpoint | None) -> Row | None:
    from .endpoints import ROW

    return None if endpoint is None else ROW[endpoint]


DEBUG_ONLY = "<debug level only>"  # a log_line dockerd writes only at debug level

_UNKNOWN = GoStruct("map[string]interface {}", (("Err", GoKind.STRING),))


def read_answer(endpoint: Endpoint | str, status: int, headers: Headers, body: bytes,
                docker_version: DockerVersion | str | None = None, *,
                request: Mapping[str, JSON] | None = None,
                role: AddressRole | None = None) -> Verdict:
    """dockerd's verdict on one answer. ``headers`` are the answer's headers (dockerd ignores
    them all, Content-Type included); ``request`` (the decoded request, optional) lets the
    verdict word errors as dockerd does for that request (a gateway ``RequestAddress``) and
    check an answer against what was asked (``CreateEndpoint``). ``role``: what the address
    of a ``ReleaseAddress`` is to dockerd, which the request does not say (the session's
    follower knows: ``ledger.AddressRoles``); it picks the log line and sentence of a
    refused release (None: a container's). Never raises for any ``status``/``body``;
    raises ``ValueError`` for a malformed ``docker_version``."""
    del headers  # dockerd reads none of them
    version = DockerVersion.parse(docker_version)
    known = parse_endpoint(endpoint)
    name = known.value if known is not None else str(endpoint).lstrip("/")
    row = _row(known)
    asked = request if isinstance(request, Mapping) else {}
    decoded: gojson.Decoded | None = None
    error: str | None
    plugin_error: str | None
    if status != 200:
        if status == 404 and row is not None and row.tolerates_404:
            return Verdict(endpoint=known, name=name, outcome=Outcome.SUCCESS, status=status,
                           role=role)
        error = f"{name}: {gojson.unmarshal_err(body) or body.decode('utf-8', 'replace')}"
        plugin_error = error
    else:
        struct = response_type(known, version) if known is not None else _UNKNOWN
        decoded = gojson.decode(body, struct)
        plugin_error = decoded.error or _remote_error(known, decoded)
        error = plugin_error or _use_error(known, decoded.fields, asked, version)
    if error is not None:
        error = _wrap(known, error, asked)
        return _failure(known, name, status, error, decoded, asked, plugin_error,
                        version.row, role)
    used = {k: v for k, v in (decoded.fields if decoded else {}).items()
            if k not in ("Err", "Error")}
    return Verdict(endpoint=known, name=name, outcome=Outcome.SUCCESS, status=status,
                   used=used, decoded=decoded, role=role)


def error_message(endpoint: Endpoint | str, status: int, body: JSON) -> str | None:
    """The error dockerd sees in an answer, or None on success: ``read_answer``'s error for
    a body given as bytes, text or decoded JSON (encoded as Go encodes it)."""
    return read_answer(endpoint, status, None, _bytes(body)).error


def _bytes(body: JSON) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return gojson.encode(body)


def _remote_error(endpoint: Endpoint | None, decoded: gojson.Decoded) -> str | None:
    key = endpoint.error_field if endpoint is not None else "Err"
    value = decoded.fields.get(key) if key else None
    return f"remote: {value}" if value else None


def _use_error(endpoint: Endpoint | None, used: Mapping[str, JSON], asked: Mapping[str, JSON],
               version: DockerVersion) -> str | None:
    """dockerd's own checks of the values it goes on to use."""
    check = _USE_CHECKS.get(endpoint) if endpoint is not None else None
    return None if check is None else check(used, asked, version)


def _cidr_error(value: JSON) -> str | None:
    text = value if isinstance(value, str) else ""
    return None if goparse.parse_cidr(text) is not None else f"invalid CIDR address: {text}"


def _activate(used: Mapping[str, JSON], _asked: Mapping[str, JSON],
              _version: DockerVersion) -> str | None:
    implements = used.get("Implements") or []
    if not {"IpamDriver", "NetworkDriver"} & set(implements):
        return "Plugin does not implement the requested driver"
    return None


def _request_pool(used: Mapping[str, JSON], _asked: Mapping[str, JSON],
                  _version: DockerVersion) -> str | None:
    return _cidr_error(used.get("Pool"))


def _request_address(used: Mapping[str, JSON], _asked: Mapping[str, JSON],
                     version: DockerVersion) -> str | None:
    if not used.get("Address"):
        return version.row.no_address
    return _cidr_error(used.get("Address"))


def _net_caps(used: Mapping[str, JSON], _asked: Mapping[str, JSON],
              _version: DockerVersion) -> str | None:
    scope = used.get("Scope") or ""
    connectivity = used.get("ConnectivityScope") or ""
    if capability_scope(scope) is None or (connectivity != ""
                                           and capability_scope(connectivity) is None):
        return f"invalid capability: expecting 'local' or 'global', got {scope}"
    return None


def _create_endpoint(used: Mapping[str, JSON], asked: Mapping[str, JSON],
                     _version: DockerVersion) -> str | None:
    returned = used.get("Interface")
    answer: Mapping[str, JSON] = returned if isinstance(returned, Mapping) else {}
    given = asked.get("Interface")
    sent: Mapping[str, JSON] = given if isinstance(given, Mapping) else {}
    for key, words in (("Address", "address"), ("AddressIPv6", "address IPv6"),
                       ("MacAddress", "MAC address")):
        value = answer.get(key)
        if not value:
            continue
        if sent.get(key):
            what = "IP" if key != "MacAddress" else "MAC"
            return (f"driver modified interface {words}: endpoint interface {what} present "
                    f"({sent[key]}). Cannot be modified with ({value}).")
        if key == "MacAddress" and goparse.parse_mac(value) is None:
            return f"address {value}: invalid MAC address"
        if key != "MacAddress" and goparse.parse_cidr(value) is None:
            return f"invalid CIDR address: {value}"
    return None


def _join(used: Mapping[str, JSON], _asked: Mapping[str, JSON],
          _version: DockerVersion) -> str | None:
    for key in ("Gateway", "GatewayIPv6"):
        value = used.get(key)
        if value and goparse.parse_ip(value) is None:
            return f'unable to parse {key} "{value}"'
    return None


_USE_CHECKS = {
    Endpoint.ACTIVATE: _activate,
    Endpoint.REQUEST_POOL: _request_pool,
    Endpoint.REQUEST_ADDRESS: _request_address,
    Endpoint.NET_GET_CAPABILITIES: _net_caps,
    Endpoint.CREATE_ENDPOINT: _create_endpoint,
    Endpoint.JOIN: _join,
}


def is_gateway_request(request: Mapping[str, JSON]) -> bool:
    """A RequestAddress dockerd sends for a network's gateway (``RequestAddressType`` set)."""
    options = request.get("Options")
    return (type(options) is dict or isinstance(options, Mapping)) \
        and options.get(GATEWAY_OPTION) is not None  # dict first: the ABC's check is slower


def pool_gateway(answer: Mapping[str, JSON]) -> JSON:
    """The gateway a RequestPool answer names in its ``Data`` (dockerd then asks for no
    gateway address), or None."""
    data = answer.get("Data")
    return data.get(GATEWAY_LABEL) if isinstance(data, Mapping) else None


def _wrap(endpoint: Endpoint | None, error: str, asked: Mapping[str, JSON]) -> str:
    """The words dockerd puts around a plugin error for this request."""
    if endpoint is Endpoint.REQUEST_ADDRESS and is_gateway_request(asked):
        return f"failed to allocate gateway ({asked.get('Address') or ''}): {error}"
    return error


# Calls of a container's network set-up (docker run): 28+ words their failures
# "failed to set up container networking: …" (VersionRow.container_error_prefix).
_CONTAINER_SETUP = frozenset({Endpoint.CREATE_ENDPOINT, Endpoint.JOIN,
                              Endpoint.ENDPOINT_OPER_INFO,
                              Endpoint.PROGRAM_EXTERNAL_CONNECTIVITY})
_CLI_HEAD = "Error response from daemon: "


def _container_setup(endpoint: Endpoint | None, asked: Mapping[str, JSON]) -> bool:
    if endpoint is Endpoint.REQUEST_ADDRESS:
        return not is_gateway_request(asked)
    return endpoint in _CONTAINER_SETUP


def _failure(endpoint: Endpoint | None, name: str, status: int, error: str,
             decoded: gojson.Decoded | None, asked: Mapping[str, JSON],
             plugin_error: str | None = None,
             version: VersionRow | None = None, role: AddressRole | None = None) -> Verdict:
    row = _row(endpoint)
    if version is not None and row is not None and name in version.logs_only:
        # This line ignores the error; the plugin layer logs a body it cannot decode.
        line = (f"{name}: error reading plugin resp: {error}"
                if status == 200 and decoded is not None and decoded.error else
                DEBUG_ONLY)
        return Verdict(endpoint=endpoint, name=name, outcome=Outcome.LOGGED, status=status,
                       error=error, plugin_error=plugin_error, log_line=line, decoded=decoded,
                       role=role,
                       effect=f"dockerd {version.name} ignores it: the docker command "
                              "still succeeds")
    if row is not None and row.on_failure is FailureEffect.LOGGED:
        fill = {k: v for k, v in asked.items() if isinstance(v, str)}
        words = row.by_request(asked)
        template = words.log_line if words is not None else row.log_line_of(role)
        values = {**fill, "error": error}
        if template.startswith("msg="):  # a logfmt line (swarmkit's): values inside quotes
            values = {k: _quoted_inside(v) for k, v in values.items()}
        line = _fill(template, values)
        effect = words.failure_sentence if words is not None else None
        if line == DEBUG_ONLY and status == 200 and decoded is not None and decoded.error:
            line = f"{name}: error reading plugin resp: {error}"  # the plugin layer's line
            effect = "dockerd carries on; only its plugin layer logs the answer it cannot read"
        if version is not None and version.structured_logs and row.log_message:
            line = (f'msg="{row.log_message}" eid=<id> ep=<name> error={_logfmt(error)} '
                    "net=<network> nid=<nid>")
        return Verdict(endpoint=endpoint, name=name, outcome=Outcome.LOGGED, status=status,
                       error=error, plugin_error=plugin_error, log_line=line, decoded=decoded,
                       role=role, effect=effect)
    template = row.cli_text if row is not None else _CLI_HEAD + "{error}"
    if version is not None and version.container_error_prefix and \
            _container_setup(endpoint, asked):
        template = template.replace(_CLI_HEAD, _CLI_HEAD + version.container_error_prefix, 1)
    return Verdict(endpoint=endpoint, name=name, outcome=Outcome.FAILS_COMMAND, status=status,
                   error=error, plugin_error=plugin_error,
                   cli_text=_fill(template, {"error": error}), decoded=decoded, role=role)


_LOGFMT_BARE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._/@^+")


def _logfmt(value: str) -> str:
    """A field's value as dockerd's logrus text formatter writes it: bare when every character
    is one it leaves alone, else double-quoted with quotes and backslashes escaped."""
    if value and set(value) <= _LOGFMT_BARE:
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _quoted_inside(value: str) -> str:
    """``value`` as logrus writes it inside a quoted field: quotes and backslashes escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _fill(template: str, values: Mapping[str, str]) -> str:
    """``template`` with each ``{Field}`` replaced by its value; a field the request did not
    give reads ``<Field>``, as the line's other unknowns (``<name>``) do. The values are
    put in last, so a plugin's error text is never rewritten."""
    return _FIELD.sub(lambda m: values.get(m[1], f"<{m[1]}>"), template)


_FIELD = re.compile(r"\{([A-Za-z]+)\}")


# -- calls without an answer ---------------------------------------------------------------

GIVE_UP_AFTER = 30.0  # seconds: backoff + time since the first attempt (pkg/plugins/client.go)


def backoff(attempt: int) -> float:
    """Seconds dockerd waits after failed attempt number ``attempt`` (0 is the first)."""
    return float(min(2 ** attempt, 30))


def retry_waits() -> tuple[float, ...]:
    """The waits between dockerd's attempts at a call that gets no answer, in order: the
    retries ``read_no_answer`` promises before the command fails (1, 2, 4 and 8 s)."""
    waits: list[float] = []
    while backoff(len(waits)) + sum(waits) < GIVE_UP_AFTER:
        waits.append(backoff(len(waits)))
    return tuple(waits)


def read_no_answer(endpoint: Endpoint | str, failure: NoAnswer,
                   docker_version: DockerVersion | str | None = None, *, attempt: int = 0,
                   socket: str = "/run/docker/plugins/<name>.sock",
                   role: AddressRole | None = None) -> Verdict:
    """dockerd's verdict on attempt ``attempt`` of a call that got no answer: a retry after
    ``backoff(attempt)`` seconds, or, once the backoff would pass 30 s since the first attempt
    (after the fifth attempt, ≈15 s), the failure the docker command shows."""
    version = DockerVersion.parse(docker_version)
    known = parse_endpoint(endpoint)
    name = known.value if known is not None else str(endpoint).lstrip("/")
    host = fact("plugin_url_host", version).replace(
        "{socket}", socket.replace("/", "%2F"))
    cause = (f"dial unix {socket}: connect: connection refused"
             if failure is NoAnswer.REFUSED else "EOF")
    error = f'Post "http://{host}/{name}": {cause}'
    elapsed = sum(backoff(n) for n in range(attempt))
    wait = backoff(attempt)
    if wait + elapsed < GIVE_UP_AFTER:
        return Verdict(endpoint=known, name=name, outcome=Outcome.RETRIED, error=error,
                       retry_after=wait, retry_empty_body=failure is NoAnswer.CLOSED, role=role)
    return _failure(known, name, 0, error, None, {}, error, version.row, role)
