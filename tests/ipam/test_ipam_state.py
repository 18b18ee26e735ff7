"""The state store: snapshot + journal round trips, crash leftovers, locking, failures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ipamx_spy.app import PluginError
from ipamx_spy.ipam import Allocator, IpamConfig, IpamService, StateError, default_state_path
from ipamx_spy.ipam.state import journal_path, open_state

POOL = "IpamDriver.RequestPool"
ADDR = "IpamDriver.RequestAddress"


def exercise(service: IpamService) -> None:
    """A mix of every kind of change: pools, children, addresses, releases, cursors."""
    routes = service.routes()
    pool = routes[POOL]({"AddressSpace": "LocalDefault"})["PoolID"]
    child = routes[POOL]({"AddressSpace": "LocalDefault", "Pool": "10.2.0.0/16",
                          "SubPool": "10.2.2.0/24"})["PoolID"]
    v6 = routes[POOL]({"AddressSpace": "LocalDefault", "Pool": "fd00:7::/64", "V6": True})["PoolID"]
    for pid in (pool, child, v6):
        for _ in range(5):
            routes[ADDR]({"PoolID": pid, "Options": {"com.docker.network.ipam.serial": "true"}})
    routes[ADDR]({"PoolID": child, "Address": "10.2.9.9",
                  "Options": {"RequestAddressType": "com.docker.network.gateway"}})
    routes["IpamDriver.ReleaseAddress"]({"PoolID": pool, "Address": "172.17.0.3"})
    gone = routes[POOL]({"AddressSpace": "GlobalDefault"})["PoolID"]
    routes["IpamDriver.ReleasePool"]({"PoolID": gone})
    routes[POOL]({"AddressSpace": "GlobalDefault"})


@pytest.mark.parametrize("compat", ["27", "20.10"])
def test_round_trip_through_close_and_reopen(tmp_path: Path, compat: str) -> None:
    path = tmp_path / "ipam.state.json"
    service = IpamService.from_options(state_path=path, compat=compat, clock=lambda: 7.0)
    exercise(service)
    expected = service.allocator.snapshot()
    service.close()
    again = IpamService.from_options(state_path=path, compat=compat)
    assert again.allocator.snapshot() == expected
    assert json.loads(path.read_text())["seq"] == service.store.seq  # type: ignore[union-attr]
    assert journal_path(path).read_bytes() == b""
    again.close()


def test_journal_alone_rebuilds_the_state(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    allocator, store = open_state(path, IpamConfig(), compact_bytes=1 << 30)
    service = IpamService(allocator, store=store)
    exercise(service)
    assert store.compactions == 1  # only the initial one, at open
    assert journal_path(path).stat().st_size > 0
    expected = allocator.snapshot()
    store.close()  # no compaction: as if the process had died here
    reloaded, again = open_state(path, IpamConfig())
    assert reloaded.snapshot() == expected
    again.close()


def test_snapshot_plus_already_applied_journal_lines_are_not_applied_twice(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    allocator, store = open_state(path, IpamConfig(), compact_bytes=1 << 30)
    exercise(IpamService(allocator, store=store))
    journal = journal_path(path).read_bytes()
    store.compact(allocator)  # crash after the rename, before the truncation:
    journal_path(path).write_bytes(journal)
    expected = allocator.snapshot()
    store.close()
    reloaded, again = open_state(path, IpamConfig())
    assert reloaded.snapshot() == expected
    again.close()


def test_torn_last_line_and_stale_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    allocator, store = open_state(path, IpamConfig(), compact_bytes=1 << 30)
    exercise(IpamService(allocator, store=store))
    expected = allocator.snapshot()
    store.close()
    with journal_path(path).open("ab") as journal:
        journal.write(b'{"seq":999,"changes":[["addr+","local4"')
    stale = tmp_path / f".{path.name}.tmp-12345"
    stale.write_bytes(b"{half a snapshot")
    reloaded, again = open_state(path, IpamConfig())
    assert reloaded.snapshot() == expected
    assert not stale.exists() and journal_path(path).read_bytes() == b""
    again.close()


def test_damaged_middle_line_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    allocator, store = open_state(path, IpamConfig(), compact_bytes=1 << 30)
    exercise(IpamService(allocator, store=store))
    store.close()
    lines = journal_path(path).read_bytes().split(b"\n")
    lines[1] = b"garbage"
    journal_path(path).write_bytes(b"\n".join(lines))
    with pytest.raises(StateError, match="line 2 is damaged"):
        open_state(path, IpamConfig())


def test_missing_journal_lines_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    allocator, store = open_state(path, IpamConfig(), compact_bytes=1 << 30)
    exercise(IpamService(allocator, store=store))
    store.close()
    lines = journal_path(path).read_bytes().split(b"\n")
    journal_path(path).write_bytes(b"\n".join(lines[:2] + lines[3:]))
    with pytest.raises(StateError, match="lines are missing"):
        open_state(path, IpamConfig())


def test_second_process_is_locked_out(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    _allocator, store = open_state(path, IpamConfig())
    with pytest.raises(StateError, match="in use by another process"):
        open_state(path, IpamConfig())
    store.close()
    open_state(path, IpamConfig())[1].close()


@pytest.mark.parametrize(("config", "message"), [
    (IpamConfig(compat="20.10"), "compat '27' mode"),
    (IpamConfig(local_space="ipamx-local"), "holds address spaces"),
])
def test_state_written_with_other_settings_is_refused(tmp_path: Path, config: IpamConfig,
                                                       message: str) -> None:
    path = tmp_path / "s.json"
    open_state(path, IpamConfig())[1].close()
    with pytest.raises(StateError, match=message):
        open_state(path, config)


@pytest.mark.parametrize(("content", "message"), [
    (b"{not json", "is not JSON"),
    (b'{"format": "something-else"}', "not an ipamx-spy allocator state file"),
    (b'{"format": "ipamx-spy/ipam-state", "version": 99}', "format version 99"),
    (b'{"format": "ipamx-spy/ipam-state", "version": 1, "compat": "27", '
     b'"address_spaces": ["LocalDefault", "GlobalDefault"], "spaces": 3}', "is damaged"),
])
def test_unusable_files_are_refused_with_the_reason(tmp_path: Path, content: bytes,
                                                    message: str) -> None:
    path = tmp_path / "s.json"
    path.write_bytes(content)
    with pytest.raises(StateError, match=message):
        open_state(path, IpamConfig())


def test_failed_save_undoes_the_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    service = IpamService.from_options(state_path=tmp_path / "s.json")
    routes = service.routes()
    pid = routes[POOL]({"AddressSpace": "LocalDefault", "Pool": "10.0.0.0/24"})["PoolID"]
    before = service.allocator.snapshot()
    store = service.store
    assert store is not None

    def disk_full(_line: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store, "_append", disk_full)
    with pytest.raises(PluginError, match="could not save the allocator state.*undone"):
        routes[ADDR]({"PoolID": pid})
    assert service.allocator.snapshot() == before
    monkeypatch.undo()
    assert routes[ADDR]({"PoolID": pid})["Address"] == "10.0.0.1/24"
    service.close()


def test_journal_is_compacted_as_it_grows(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    allocator, store = open_state(path, IpamConfig(), compact_bytes=2048)
    service = IpamService(allocator, store=store)
    pid = service.routes()[POOL]({"AddressSpace": "LocalDefault", "Pool": "10.0.0.0/16"})["PoolID"]
    for _ in range(300):
        service.routes()[ADDR]({"PoolID": pid})
    assert store.compactions > 1
    assert journal_path(path).stat().st_size < max(2048, store.snapshot_bytes) + 200
    on_disk = json.loads(path.read_text())["spaces"]["local4"]["pools"][0]["used"]
    assert on_disk[0][1] < 300  # the rest is in the journal
    store.close()
    reloaded, again = open_state(path, IpamConfig())
    assert reloaded.snapshot()["spaces"]["local4"]["pools"][0]["used"] == \
        [[0, 300], [65535, 65535]]
    again.close()


def test_default_state_path() -> None:
    assert default_state_path("ipamx") == Path("/var/lib/ipamx-spy/ipamx.state.json")


def test_in_memory_allocator_snapshot_round_trip() -> None:
    allocator = Allocator(IpamConfig(compat="20.10"))
    exercise(IpamService(allocator))
    copy = Allocator.from_snapshot(allocator.snapshot(), IpamConfig(compat="20.10"))
    assert copy.snapshot() == allocator.snapshot()
    assert copy.leases() == allocator.leases()


def test_a_damaged_last_line_that_ends_in_a_newline_is_refused(tmp_path: Path) -> None:
    """Written whole, so maybe acknowledged: never dropped silently (issue 11 item 10)."""
    path = tmp_path / "s.json"
    allocator, store = open_state(path, IpamConfig(), compact_bytes=1 << 30)
    routes = IpamService(allocator, store=store).routes()
    pool = routes[POOL]({"AddressSpace": "LocalDefault"})["PoolID"]
    routes[ADDR]({"PoolID": pool})
    routes[ADDR]({"PoolID": pool})
    store.close()
    data = journal_path(path).read_bytes()
    last = data.rstrip(b"\n").rsplit(b"\n", 1)[1]
    journal_path(path).write_bytes(data.replace(last, last[:-3] + b"?!}"))
    with pytest.raises(StateError, match="damaged although it was written whole"):
        open_state(path, IpamConfig())
    journal_path(path).write_bytes(data)  # repaired by hand: it loads again
    open_state(path, IpamConfig())[1].close()


def test_state_files_are_private_and_links_are_refused(tmp_path: Path) -> None:
    import os
    import stat

    from ipamx_spy.atomic import MissingDirectory, UnsafePath

    path = tmp_path / "s.json"
    allocator, store = open_state(path, IpamConfig())
    exercise(IpamService(allocator, store=store))
    store.compact(allocator)
    store.close()
    for file in (path, journal_path(path)):
        assert stat.S_IMODE(os.stat(file).st_mode) == 0o600
    victim = tmp_path / "victim"
    victim.write_text("keep")
    linked = tmp_path / "l.json"
    journal_path(linked).symlink_to(victim)
    with pytest.raises(UnsafePath, match="symbolic link"):
        open_state(linked, IpamConfig())
    snapshot_link = tmp_path / "m.json"
    snapshot_link.symlink_to(path)
    with pytest.raises(UnsafePath, match="symbolic link"):
        open_state(snapshot_link, IpamConfig())
    assert victim.read_text() == "keep"
    with pytest.raises(MissingDirectory):
        open_state(tmp_path / "no" / "s.json", IpamConfig())
    assert not (tmp_path / "no").exists()
