"""Words compared as enums (issue #12, G6): the lane head of the built-in plugin, read from the
header's ``upstream`` (``str(Address)``, which is ``AddressKind.BUILTIN`` for the built-in)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ipamx_spy.address import AddressKind, parse
from ipamx_spy.web import view
from ipamx_spy.web.board import FileBoard

TALK = Path(__file__).parent.parent / "recordings" / "talk.jsonl"


@pytest.mark.parametrize(("upstream", "built_in"), [
    (str(parse("builtin")), True), ("unix:///run/docker/plugins/ipamx.sock", False)])
def test_the_plugin_lane_says_built_in_only_for_the_built_in(
        tmp_path: Path, upstream: str, built_in: bool) -> None:
    lines = TALK.read_text(encoding="utf-8").splitlines()
    header = json.loads(lines[0])
    header["upstream"] = upstream
    path = tmp_path / "talk.jsonl"
    path.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n", encoding="utf-8")
    heads = view.lanes_html(FileBoard([path]).build().board)
    assert ("(built-in)" in heads) is built_in
    assert parse("builtin").kind is AddressKind.BUILTIN
