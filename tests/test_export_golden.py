"""Golden files: every export format of the talk's recording, checked byte for byte.

Until recordings/talk.jsonl exists the synthetic recording of tests/golden/ stands in for it
(tests/golden/make_synthetic.py writes it); once it exists both are checked. To accept new
output after an intended change, run the tests with IPAMX_SPY_UPDATE_GOLDEN=1 and review the
diff of tests/golden/.
"""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path
from types import ModuleType

import pytest

from ipamx_spy import recording as rec
from ipamx_spy.export import (
    FORMATS,
    HEADERS_BY_DEFAULT,
    SUFFIXES,
    Options,
    Selection,
    build_trace,
    parse_range,
)

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
TALK = HERE.parent / "recordings" / "talk.jsonl"
UPDATE = os.environ.get("IPAMX_SPY_UPDATE_GOLDEN") == "1"
SVG_RANGE = "4-7"  # the SVG is for slides: a few exchanges, as --range gives them


def sources() -> list[Path]:
    return [GOLDEN / "synthetic.jsonl", *([TALK] if TALK.exists() else [])]


def synthetic_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_synthetic", GOLDEN / "make_synthetic.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def export(source: Path, fmt: str) -> str:
    options = Options(headers=HEADERS_BY_DEFAULT[fmt])
    selection = Selection(ranges=parse_range(SVG_RANGE)) if fmt == "svg" else Selection()
    trace = build_trace(rec.load(source), selection=selection, options=options, validate=False)
    return FORMATS[fmt](trace)


def comparable(fmt: str, text: str) -> str:
    """What must not change: for SVG the terminal text (rich's markup varies by version)."""
    if fmt != "svg":
        return text
    return "\n".join(re.findall(r"<text [^>]*>([^<]*)</text>", text))


def test_synthetic_recording_is_what_its_script_writes() -> None:
    module = synthetic_module()
    if UPDATE:
        module.TARGET.write_text(module.text(), encoding="utf-8")
    assert (GOLDEN / "synthetic.jsonl").read_text(encoding="utf-8") == module.text()


@pytest.mark.parametrize("fmt", list(FORMATS))
@pytest.mark.parametrize("source", sources(), ids=lambda p: p.stem)
def test_export_matches_golden_file(source: Path, fmt: str) -> None:
    golden = GOLDEN / f"{source.stem}{SUFFIXES[fmt]}"
    produced = export(source, fmt)
    if UPDATE:
        golden.write_text(produced, encoding="utf-8")
    if not golden.exists():
        pytest.fail(f"{golden} is missing: run IPAMX_SPY_UPDATE_GOLDEN=1 pytest {__file__} "
                    "and review the new file")
    expected = golden.read_text(encoding="utf-8")
    assert comparable(fmt, produced) == comparable(fmt, expected), (
        f"{fmt} export of {source.name} changed; if intended, regenerate with "
        "IPAMX_SPY_UPDATE_GOLDEN=1 and review the diff")
