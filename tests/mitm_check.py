"""mitmproxy's side of the flow-file tests (tests/test_export_mitm.py runs it).

Run with the python of mitmproxy's own virtualenv; it imports nothing from ipamx_spy itself
(the addon it loads does, from the package beside the addon file):

    python tests/mitm_check.py state OUT.json FLOWS...      every flow as mitmproxy reads it
    python tests/mitm_check.py export ADDON FLOWS OUT ...   the addon's ipamx.export, per file
    python tests/mitm_check.py views ADDON FLOWS OUT.json   the addon's view of each answer

``state`` writes ``{FLOWS: [Flow.get_state() of each flow mitmproxy's FlowReader read]}`` as
JSON (bytes as ``{"b64": …}``, tuples as lists: ``plain``, which the test imports too).
``export`` takes pairs of a flow file and the recording to write from all its flows.
``views`` hands every flow of FLOWS to the addon's response hook in order, as mitmproxy does
for flows it captures or loads, with the address role an export stored taken out first (as a
flow mitmproxy captured itself has none), and writes the text of the libnetwork view of each
answer, one list of lines per flow. Exit status 2 when mitmproxy cannot read a file.
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any


def plain(value: Any) -> Any:
    """A flow state as JSON can hold it (tests/test_export_mitm.py compares with it)."""
    if isinstance(value, bytes):
        return {"b64": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def read(path: str) -> list[Any]:
    from mitmproxy import exceptions, io  # only in mitmproxy's environment

    try:
        return io.read_flows_from_paths([path])
    except exceptions.FlowReadException as exc:
        print(f"mitmproxy cannot read {path}: {exc}", file=sys.stderr)
        raise SystemExit(2) from exc


def state(out: str, paths: list[str]) -> int:
    states = {path: [plain(flow.get_state()) for flow in read(path)] for path in paths}
    with open(out, "w", encoding="utf-8") as f:
        json.dump(states, f)
    return 0


def export(addon: str, pairs: list[str]) -> int:
    from mitmproxy.test import taddons

    with taddons.context() as tctx:
        loaded = tctx.script(addon)
        if loaded is None:
            print(f"the addon {addon} did not load", file=sys.stderr)
            return 1
        addon_object = getattr(loaded, "addons", [loaded])[0]  # the script module's addons
        for path, out in zip(pairs[::2], pairs[1::2], strict=True):
            addon_object.export(read(path), out)
    return 0


ROLE_META = "ipamx-spy-address-role"  # ipamx_spy.mitm.flowstate.ROLE_META


def views(addon: str, path: str, out: str) -> int:
    from mitmproxy.test import taddons

    with taddons.context() as tctx:
        loaded = tctx.script(addon)
        if loaded is None:
            print(f"the addon {addon} did not load", file=sys.stderr)
            return 1
        addon_object = getattr(loaded, "addons", [loaded])[0]
        seen = []
        for flow in read(path):
            flow.metadata.pop(ROLE_META, None)
            addon_object.response(flow)
            _title, lines = addon_object.view(b"", flow=flow, http_message=flow.response)
            seen.append(["".join(text for _style, text in line) for line in lines])
    with open(out, "w", encoding="utf-8") as f:
        json.dump(seen, f)
    return 0


def main(argv: list[str]) -> int:
    if argv[1] == "state":
        return state(argv[2], argv[3:])
    if argv[1] == "export":
        return export(argv[2], argv[3:])
    if argv[1] == "views":
        return views(argv[2], argv[3], argv[4])
    print(f"unknown check {argv[1]!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
