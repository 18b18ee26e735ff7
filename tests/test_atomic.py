from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from ipamx_spy.atomic import write_atomically


def test_replaces_content_with_the_mode_and_creates_the_directory(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "state.json"
    write_atomically(path, "one", 0o640)
    write_atomically(path, b"two", 0o600)
    assert path.read_bytes() == b"two"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]


def test_a_failed_rename_keeps_the_old_file_and_no_temporary(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state.json"
    write_atomically(path, "old")

    def disk_full(_src: object, _dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", disk_full)
    with pytest.raises(OSError, match="No space left"):
        write_atomically(path, "new")
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["state.json"]
