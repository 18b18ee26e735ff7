"""Checks of how an answer carries success or failure (codes 1xx), per PROTOCOL.md 1.3."""

from __future__ import annotations

from collections.abc import Callable

from ipamx_spy.dockerd import Interface, gojson
from ipamx_spy.findings import Finding

from .context import CheckContext
from .rules import finding

Check = Callable[[CheckContext], list[Finding]]


def _short(text: str, limit: int = 80) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def check_non_200(ctx: CheckContext) -> list[Finding]:
    """IPX101 / IPX105: a refusal dockerd can only show as raw text."""
    if ctx.status == 200 or ctx.plugin_error is None:
        return []
    keys = gojson.error_fields(ctx.body, whole=True)  # json.Unmarshal, as dockerd reads it
    if "Err" in keys:
        return []
    shown = ctx.plugin_error
    if "Error" in keys:
        return [finding("IPX105", ctx.seq, (
            f"the plugin answered {ctx.status} with its reason in Error, but dockerd reads only "
            f"Err on a non-200 answer, so the user sees the raw JSON ({_short(shown)!r}); "
            "send {\"Err\": \"...\"}"))]
    raw = "an empty body" if not ctx.body.strip() else "no JSON Err"
    return [finding("IPX101", ctx.seq, (
        f"the plugin answered {ctx.status} with {raw}: dockerd fails the call with "
        f"{_short(shown)!r}; send a JSON body {{\"Err\": \"<reason>\"}} so users read a reason"))]


def check_empty_200(ctx: CheckContext) -> list[Finding]:
    """IPX102: dockerd decodes nothing and fails with EOF."""
    if ctx.status != 200 or ctx.body.strip():
        return []
    return [finding("IPX102", ctx.seq, (
        "the plugin answered 200 with an empty body: Go's decoder fails the call with 'EOF'; "
        f"{ctx.consequence()}; answer a JSON object, {{}} when there is nothing to say"))]


def check_not_json(ctx: CheckContext) -> list[Finding]:
    """IPX106 / IPX107: a 200 body Go's decoder refuses before looking at any field."""
    if ctx.status != 200 or not ctx.body.strip():
        return []
    decoded, error = ctx.decoded
    if error is None or decoded.problems:  # a field of the wrong type: the field checks' own
        return []
    code = "IPX106" if decoded.syntax_error else "IPX107"  # not JSON / not an object
    return [finding(code, ctx.seq, (
        f"dockerd fails the call with {error!r}: a 200 answer must be one JSON object "
        "(or null)"))]


def check_error_field(ctx: CheckContext) -> list[Finding]:
    """IPX103 / IPX104: an error in the field the other API uses is silently a success."""
    if ctx.status != 200 or ctx.row is None or ctx.decoded[1] is not None:
        return []
    keys = gojson.error_fields(ctx.body, whole=False)  # the first value, as Decode reads it
    interface = ctx.row.interface
    if interface == Interface.NETWORK and "Error" in keys and "Err" not in keys:
        return [finding("IPX103", ctx.seq, (
            f"the driver answered 200 with Error {_short(keys['Error'])!r}, but dockerd reads "
            "Err on network driver answers and takes this one as a success; name the field "
            "Err"))]
    if interface == Interface.IPAM and "Err" in keys and "Error" not in keys:
        return [finding("IPX104", ctx.seq, (
            f"the allocator answered 200 with Err {_short(keys['Err'])!r}, but dockerd reads "
            "Error on IPAM answers and takes this one as a success; name the field Error, or "
            "answer non-200 with Err"))]
    return []


def check_trailing(ctx: CheckContext) -> list[Finding]:
    """IPX108: bytes after the first JSON value (Go's decoder never reads them)."""
    if ctx.status != 200 or not ctx.body.strip() or ctx.decoded[1] is not None:
        return []
    rest = ctx.decoded[0].trailing
    if not rest:
        return []
    return [finding("IPX108", ctx.seq, (
        f"dockerd reads the first JSON value and ignores the rest ({_short(rest, 40)!r}); "
        "send exactly one JSON value"))]


CHECKS: tuple[Check, ...] = (
    check_non_200, check_empty_200, check_not_json, check_error_field, check_trailing,
)
