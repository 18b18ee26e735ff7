"""JUnit XML for CI: one test suite per recording, one test case per exchange."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from .engine import FAIL, SKIP, ReplayResult
from .report import describe


def _suite(result: ReplayResult) -> ET.Element:
    suite = ET.Element("testsuite", name=result.source)
    if result.unusable is not None:
        case = ET.SubElement(suite, "testcase", classname=_classname(result), name="replay")
        ET.SubElement(case, "error", message=result.unusable).text = result.unusable
        suite.attrib.update(tests="1", failures="0", errors="1", skipped="0", time="0")
        return suite
    total_ms = 0.0
    for verdict in result.verdicts:
        total_ms += verdict.elapsed_ms
        case = ET.SubElement(suite, "testcase", classname=_classname(result),
                             name=f"#{verdict.seq} {verdict.endpoint}",
                             time=f"{verdict.elapsed_ms / 1000:.6f}")
        if verdict.outcome == FAIL:
            failure = ET.SubElement(case, "failure", message=verdict.problems[0].message)
            failure.text = describe(verdict).plain
        elif verdict.outcome == SKIP:
            ET.SubElement(case, "skipped", message=verdict.skip_reason)
    suite.attrib.update(tests=str(len(result.verdicts)), failures=str(result.count(FAIL)),
                        errors="0", skipped=str(result.count(SKIP)),
                        time=f"{total_ms / 1000:.6f}")
    suite.set("hostname", result.target)
    return suite


def _classname(result: ReplayResult) -> str:
    return "ipamx-spy.replay." + Path(result.source).stem


def to_xml(results: Sequence[ReplayResult]) -> bytes:
    root = ET.Element("testsuites", name="ipamx-spy replay")
    for result in results:
        root.append(_suite(result))
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data


def write(path: Path, results: Sequence[ReplayResult]) -> None:
    """Write the JUnit file (raises OSError when it cannot be written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(to_xml(results))
