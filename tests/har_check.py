"""Read a HAR file with mitmproxy's own reader and compare it with what the recording holds.

Run by tests/test_export_har.py with the python of a separate virtualenv that has mitmproxy
(its releases pin an old h11, so it never goes into ipamx-spy's environment):

    /opt/ipamx-mitm-venv/bin/python tests/har_check.py FILE.har EXPECTED.json

EXPECTED.json is a list with one object per exchange: method, url, path, request_body and
response_body (base64 of the exact bytes) and status (0: no answer). Exit status 0 when every
flow matches, 1 with one line per difference on stderr, 2 when mitmproxy cannot read the file.
This script imports nothing from ipamx_spy.
"""

from __future__ import annotations

import base64
import json
import sys
from typing import Any

from mitmproxy import exceptions, io


def describe(flow: Any) -> dict[str, Any]:
    request, response = flow.request, flow.response
    return {
        "method": request.method,
        "path": request.path,
        "url": request.url,
        "request_body": base64.b64encode(request.raw_content or b"").decode(),
        "status": response.status_code if response is not None else 0,
        "response_body": base64.b64encode(
            (response.raw_content or b"") if response is not None else b"").decode(),
    }


def differences(flows: list[Any], expected: list[dict[str, Any]]) -> list[str]:
    if len(flows) != len(expected):
        return [f"mitmproxy read {len(flows)} flows, the recording has {len(expected)}"]
    problems = []
    for number, (flow, want) in enumerate(zip(flows, expected, strict=True), 1):
        got = describe(flow)
        for key, value in want.items():
            if got.get(key) != value:
                problems.append(f"flow {number} {key}: mitmproxy read {got.get(key)!r}, "
                                f"expected {value!r}")
    return problems


def main(argv: list[str]) -> int:
    har_path, expected_path = argv[1], argv[2]
    with open(expected_path, encoding="utf-8") as f:
        expected = json.load(f)
    try:
        flows = io.read_flows_from_paths([har_path])
    except exceptions.FlowReadException as exc:
        print(f"mitmproxy cannot read {har_path}: {exc}", file=sys.stderr)
        return 2
    problems = differences(flows, expected)
    for problem in problems:
        print(problem, file=sys.stderr)
    print(json.dumps({"flows": len(flows), "problems": len(problems)}))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
