"""Keeping the network driver's state on disk: atomic replacement, loud refusal of bad files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ipamx_spy.netdriver.model import DriverState, Network, Subnet
from ipamx_spy.netdriver.store import FileStore, MemoryStore

STATE = DriverState().with_network(
    Network(network_id="n1", bridge="ix0000b00000001",
            ipv4=(Subnet(pool="10.4.4.0/24", gateway="10.4.4.1/24"),)))


def test_a_missing_file_is_an_empty_start(tmp_path: Path) -> None:
    assert FileStore(tmp_path / "net.json", "ipamx").load() is None


def test_save_then_load_gives_the_state_back_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "net.json"
    store = FileStore(path, "ipamx")
    store.save(DriverState())
    store.save(STATE)
    assert FileStore(path, "ipamx").load() == STATE
    assert [p.name for p in path.parent.iterdir()] == ["net.json"]
    assert json.loads(path.read_text())["plugin"] == "ipamx"


def test_a_failed_save_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "net.json"
    store = FileStore(path, "ipamx")
    store.save(STATE)

    def disk_full(_src: object, _dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("os.replace", disk_full)
    with pytest.raises(OSError, match="No space left"):
        store.save(DriverState())
    assert store.load() == STATE
    assert [p.name for p in tmp_path.iterdir()] == ["net.json"]


def test_a_file_that_is_not_a_state_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "net.json"
    path.write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match=str(path)):
        FileStore(path, "ipamx").load()
    path.write_text("{not json")
    with pytest.raises(ValueError, match=str(path)):
        FileStore(path, "ipamx").load()


def test_memory_store_remembers_nothing() -> None:
    store = MemoryStore()
    store.save(STATE)
    assert store.load() is None
