"""infer.Section.source is a SectionSource member (issue #12 G6); exports keep the words."""

from __future__ import annotations

import json

import pytest

from ipamx_spy import infer
from ipamx_spy.records import SectionSource


def test_a_section_s_source_word_becomes_its_member() -> None:
    section = infer.Section(title="docker run", source="marker", t=0.0)  # type: ignore[arg-type]
    assert section.source is SectionSource.MARKER is infer.MARKER
    assert json.dumps({"source": section.source}) == '{"source": "marker"}'
    with pytest.raises(ValueError, match="unknown section source 'other'"):
        infer.Section(title="x", source="other", t=0.0)  # type: ignore[arg-type]

