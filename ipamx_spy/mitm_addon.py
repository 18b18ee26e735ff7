"""ipamx-spy inside mitmproxy: ``mitmweb -s $(ipamx-spy mitm-addon) -r session.mitm``.

This file runs in mitmproxy's own Python (mitmproxy lives in an environment of its own), so it
imports only the standard library, mitmproxy, and the parts of ipamx-spy that need nothing else
(``ipamx_spy.mitm``, ``dockerd``, ``recording``): the package beside this file is made
importable when mitmproxy's Python does not have ipamx-spy installed.

It adds:

- the **libnetwork contentview**: a request or answer of a libnetwork plugin call shown as the
  live view shows it (the endpoint, the sentence, what dockerd makes of the answer, the fields
  with their protocol types); mitmproxy picks it by itself for every ``/Plugin.*``,
  ``/IpamDriver.*`` and ``/NetworkDriver.*`` flow;
- the command **ipamx.export FLOWS PATH**: the flows (``@all``, ``@shown``, ``@marked``, a
  filter such as ``~u RequestAddress``) written as an ipamx-spy recording, with the messages as
  they are now (edited or not), so that ``ipamx-spy replay PATH`` checks a plugin against them;
- under **mitmdump**, each listed flow's comment below it (option ``ipamx_comments``).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mitmproxy import command, contentviews, ctx, exceptions, flow, http, types

_PACKAGE = Path(__file__).resolve().parent


def _make_package_importable() -> None:
    """Load the ``ipamx_spy`` package beside this file, unless Python already has one."""
    if "ipamx_spy" in sys.modules:
        return
    spec = importlib.util.spec_from_file_location(
        "ipamx_spy", _PACKAGE / "__init__.py", submodule_search_locations=[str(_PACKAGE)])
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load the ipamx_spy package from {_PACKAGE}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["ipamx_spy"] = module
    spec.loader.exec_module(module)


_make_package_importable()

from ipamx_spy import dockerd  # noqa: E402
from ipamx_spy.dockerd.ledger import AddressRoles  # noqa: E402
from ipamx_spy.mitm import flowstate, view  # noqa: E402
from ipamx_spy.recording import Exchange  # noqa: E402
from ipamx_spy.records import RecordType  # noqa: E402

logger = logging.getLogger(__name__)


def exchange_of(f: flow.Flow) -> Exchange | None:
    """The flow as an ipamx-spy exchange (None for a flow that is not HTTP)."""
    if not isinstance(f, http.HTTPFlow):
        return None
    return flowstate.exchange_of(f.get_state())


class LibnetworkView(contentviews.View):
    """The libnetwork contentview (see the module docstring)."""

    name = "libnetwork"

    def __call__(self, data: bytes, *, flow: flow.Flow | None = None,
                 http_message: http.Message | None = None,
                 **unknown_metadata: Any) -> tuple[str, Any]:
        exchange = None if flow is None else exchange_of(flow)
        if exchange is None:
            return "libnetwork", iter([[("error", "not an HTTP flow of a libnetwork plugin")]])
        answer = isinstance(http_message, http.Response)
        description, lines = view.message_view(exchange, answer=answer)
        return description, iter(lines)

    def render_priority(self, data: bytes, *, flow: flow.Flow | None = None,
                        **unknown_metadata: Any) -> float:
        if not isinstance(flow, http.HTTPFlow):
            return 0
        return 2 if dockerd.lookup(flow.request.path) is not None else 0


class IpamxSpy:
    """The addon: contentview, ``ipamx.export`` and comments under mitmdump's flows."""

    def __init__(self) -> None:
        self.view = LibnetworkView()
        self.roles = AddressRoles()  # what each release gives back, as every reader follows it

    def load(self, loader: Any) -> None:
        loader.add_option("ipamx_comments", bool, True,
                          "mitmdump: print each listed flow's comment (ipamx-spy's "
                          "plain-words sentence, findings, notes) below it.")
        contentviews.add(self.view)

    def done(self) -> None:
        contentviews.remove(self.view)

    def _echo_comment(self, f: flow.Flow) -> None:
        dumper = ctx.master.addons.get("dumper")
        if dumper is None or not ctx.options.ipamx_comments or not f.comment:
            return
        if not dumper.match(f):
            return
        for line in f.comment.splitlines():
            dumper.echo(f"   # {line}", ident=None)

    def _follow(self, f: http.HTTPFlow) -> None:
        """Give the flow its ``ROLE_META`` once, following the flows in the order they come
        (captured, or loaded from a file: mitmproxy runs these hooks for both); a flow
        ipamx-spy exported has it already."""
        if flowstate.ROLE_META not in f.metadata:
            f.metadata[flowstate.ROLE_META] = flowstate.follow_role(self.roles, f.get_state())

    def response(self, f: http.HTTPFlow) -> None:
        self._follow(f)
        self._echo_comment(f)

    def error(self, f: http.HTTPFlow) -> None:
        if f.response is None:
            self._follow(f)
            self._echo_comment(f)

    @command.command("ipamx.export")
    def export(self, flows: Sequence[flow.Flow], path: types.Path) -> None:
        """Write flows as an ipamx-spy recording; replay it with ``ipamx-spy replay PATH``."""
        records = flowstate.recording_records([f.get_state() for f in flows], now=time.time())
        text = "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n"
                       for r in records)
        try:
            Path(path).expanduser().write_text(text, encoding="utf-8")
        except OSError as exc:
            raise exceptions.CommandError(f"cannot write {path}: {exc.strerror or exc}") from exc
        count = sum(1 for r in records if r.get("type") == RecordType.EXCHANGE)
        logger.info(f"ipamx-spy: wrote {count} exchanges to {path}")


addons = [IpamxSpy()]
