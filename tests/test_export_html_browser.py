"""The HTML export opened in headless Chromium (Debian's ``chromium`` package).

The rendered DOM must hold every exchange and every note, the inline script must have run, and
a screenshot is taken. Without Chromium the tests are skipped with the reason, unless
IPAMX_SPY_REQUIRE_TOOLS=1 (CI), where they fail. Chromium gets no network to use: the page
must not need one.
"""

from __future__ import annotations

import html
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ipamx_spy import recording as rec
from ipamx_spy.export import FORMATS, build_trace

HERE = Path(__file__).parent
SOURCES = [HERE / "golden" / "synthetic.jsonl",
           *sorted((HERE.parent / "recordings").glob("talk.jsonl"))]
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")


@pytest.fixture(scope="module")
def chromium() -> str:
    found = os.environ.get("IPAMX_SPY_CHROMIUM") or shutil.which("chromium") or shutil.which(
        "chromium-browser")
    if found is None:
        reason = "no chromium on PATH (apt-get install chromium)"
        if os.environ.get("IPAMX_SPY_REQUIRE_TOOLS") == "1":
            pytest.fail(reason + " (IPAMX_SPY_REQUIRE_TOOLS=1)")
        pytest.skip(reason)
    return found


def run_chromium(chromium: str, tmp_path: Path, *args: str) -> str:
    result = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def page(source: Path, tmp_path: Path) -> tuple[rec.Recording, Path]:
    recording = rec.load(source)
    path = tmp_path / f"{source.stem}.html"
    path.write_text(FORMATS["html"](build_trace(recording)), encoding="utf-8")
    return recording, path


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_rendered_dom_has_every_exchange_and_note(
    chromium: str, source: Path, tmp_path: Path,
) -> None:
    recording, path = page(source, tmp_path)
    dom = run_chromium(chromium, tmp_path, "--dump-dom", f"{path.as_uri()}#all")
    assert 'data-ready="1"' in dom, "the inline script did not run"
    for exchange in recording.exchanges:
        assert f'id="x{exchange.seq}"' in dom
    assert dom.count("<details") == dom.count('open=""') == len(recording.exchanges)
    for notes in recording.notes().values():
        for note in notes:
            assert html.escape(note, quote=False) in dom


def test_screenshot(chromium: str, tmp_path: Path) -> None:
    _, path = page(SOURCES[-1], tmp_path)
    shot = tmp_path / "page.png"
    run_chromium(chromium, tmp_path, f"--screenshot={shot}", "--window-size=1600,1200",
                 "--hide-scrollbars", path.as_uri())
    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert int.from_bytes(data[16:20], "big") == 1600  # the width in the IHDR chunk
    assert len(data) > 20_000, "the screenshot looks empty"
