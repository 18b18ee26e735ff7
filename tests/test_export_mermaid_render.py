"""The Mermaid export parsed and drawn by Mermaid itself, in headless Chromium.

Needs Mermaid's browser bundle from the npm registry (``npm install --prefix
/opt/ipamx-mermaid mermaid@11``) named by IPAMX_SPY_MERMAID_JS (default
/opt/ipamx-mermaid/node_modules/mermaid/dist/mermaid.min.js), and chromium. Without them the
test is skipped with the reason, unless IPAMX_SPY_REQUIRE_MERMAID=1, where it fails (a switch
of its own: CI may run without the npm registry step). The structural grammar check in
test_export_formats.py runs everywhere.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ipamx_spy import recording as rec
from ipamx_spy.export import FORMATS, build_trace

HERE = Path(__file__).parent
SOURCES = [HERE / "golden" / "synthetic.jsonl",
           *sorted((HERE.parent / "recordings").glob("talk.jsonl"))]
MERMAID_JS = Path(os.environ.get(
    "IPAMX_SPY_MERMAID_JS", "/opt/ipamx-mermaid/node_modules/mermaid/dist/mermaid.min.js"))
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=20000")
PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><script src="%s"></script></head>
<body><div id="out"></div><script>
mermaid.initialize({startOnLoad: false});
mermaid.render("diagram", %s).then(function (result) {
  document.getElementById("out").innerHTML = result.svg;
  document.body.dataset.result = "ok";
}, function (error) { document.body.dataset.result = "error: " + error; });
</script></body></html>"""


@pytest.fixture(scope="module")
def tools() -> tuple[str, Path]:
    chromium = os.environ.get("IPAMX_SPY_CHROMIUM") or shutil.which("chromium")
    reason = ("no chromium on PATH" if chromium is None else
              f"no Mermaid bundle at {MERMAID_JS}" if not MERMAID_JS.exists() else "")
    if reason:
        if os.environ.get("IPAMX_SPY_REQUIRE_MERMAID") == "1":
            pytest.fail(reason + " (IPAMX_SPY_REQUIRE_MERMAID=1)")
        pytest.skip(reason)
    assert chromium is not None
    return chromium, MERMAID_JS


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_mermaid_draws_every_exchange(
    tools: tuple[str, Path], source: Path, tmp_path: Path,
) -> None:
    chromium, bundle = tools
    recording = rec.load(source)
    diagram = FORMATS["mermaid"](build_trace(recording, validate=False))
    page = tmp_path / "diagram.html"
    page.write_text(PAGE % (bundle.as_uri(), json.dumps(diagram)), encoding="utf-8")
    result = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         page.as_uri()], capture_output=True, text=True, timeout=180,
        stdin=subprocess.DEVNULL)
    status = re.search(r'data-result="([^"]*)"', result.stdout)
    assert status is not None and status[1] == "ok", (status and status[1]) or result.stderr
    drawn = re.search(r'<div id="out">(<svg.*?</svg>)', result.stdout, re.DOTALL)
    assert drawn is not None, "no diagram drawn"
    labels = re.findall(r"<text[^>]*>([^<]*)</text>", drawn[1])
    for exchange in recording.exchanges:
        method = exchange.endpoint.split(".", 1)[-1]
        assert any(label.startswith(f"#{exchange.seq} {method}") for label in labels), (
            f"#{exchange.seq} {method} is not drawn")
