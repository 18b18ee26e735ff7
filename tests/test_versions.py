"""Version names: the emulator's rows, the allocator's compat modes and the daemon matrix agree
on what a Docker version a user types means."""

from __future__ import annotations

import dataclasses
import re
import typing
from pathlib import Path

import pytest
from docker_env import DAEMONS, HOST, Docker, run_until, selected_daemons, stop_until_done

from ipamx_spy.dockerd import Endpoint
from ipamx_spy.dockerd.versions import (
    ROW_FIELDS,
    VERSION_ROWS,
    DockerVersion,
    UnknownVersion,
    VersionRow,
    lookup,
)
from ipamx_spy.ipam.config import compat_mode
from ipamx_spy.ipam.errors import ConfigError


@pytest.mark.parametrize(("version", "row", "mode"), [
    ("20.10", "20.10", "20.10"), ("20.10.24", "20.10", "20.10"), ("23.0.6", "20.10", "20.10"),
    ("24", "26", "26"), ("25.0.3", "26", "26"), ("26.1.5+dfsg1", "26", "26"),
    ("27.5.1", "27", "27"), ("28.5.2", "28", "27"), ("v28.5.2", "28", "27"),
    ("29.0.1", "29", "27"), ("30", "29", "27"),
])
def test_a_full_version_picks_the_row_and_the_mode(version: str, row: str, mode: str) -> None:
    assert lookup(version).name == row
    assert compat_mode(version) == mode


@pytest.mark.parametrize("text", ["18.09", "banana", "", "28.x"])
def test_what_is_not_an_emulated_version_is_refused(text: str) -> None:
    with pytest.raises(UnknownVersion):
        lookup(text)


@pytest.mark.parametrize(("named", "read_as"), [
    (None, "20.10.24"), ("", "20.10.24"), ("banana", "20.10.24"), (29, "20.10.24"),
    ("9" * 5000, "20.10.24"), ("28.5.2+dfsg4", "28.5.2"), ("v26.1", "26.1.0"),
])
def test_a_header_naming_no_daemon_is_read_as_the_default_by_validator_and_verdicts(
        named: object, read_as: str) -> None:
    """One default for a recording whose header names no daemon (or no version): the
    validator's checks and dockerd's verdicts read it as the same daemon."""
    from ipamx_spy import render
    from ipamx_spy.recording import Exchange, Message, encode_body
    from ipamx_spy.validate.validator import Validator

    assert str(DockerVersion.or_default(named)) == read_as
    exchange = Exchange(seq=1, conn=1, t=0.0, endpoint="IpamDriver.GetCapabilities",
                        duration_ms=1.0, request=Message(method="POST", target="/x", headers=(),
                                                         body=encode_body(b"")),
                        response=None, docker_version=named if isinstance(named, str) else None)
    version = named if isinstance(named, str) else None
    assert Validator(docker_version=version).major == render.docker_version(exchange).major \
        == DockerVersion.parse(read_as).major


def test_the_allocator_refuses_what_is_not_a_version() -> None:
    with pytest.raises(ConfigError, match="expected a Docker version"):
        compat_mode("latest")


def test_every_daemon_of_the_matrix_has_a_verified_row() -> None:
    assert {lookup(label).name for label in DAEMONS} == {"20.10", "26", "28"}
    for label in DAEMONS:
        row = lookup(label)
        assert row.verified.startswith(label + "."), (label, row.verified)
        sub = "" if label == "20.10" else f"dockerd-{label}"
        assert sorted((ROOT / "recordings" / sub).glob("*.jsonl")), label
        captures = ROOT / "scenarios" / "captures" / sub
        assert sorted(p.name for p in captures.glob("*.jsonl")) == sorted(
            p.name for p in (ROOT / "scenarios" / "captures").glob("*.jsonl")), label
    assert {r.name for r in VERSION_ROWS.values() if r.verified} == {"20.10", "26", "28"}
    assert set(VERSION_ROWS) == {"20.10", "26", "27", "28", "29"}
    rows = {label: lookup(label) for label in DAEMONS}
    assert not rows["20.10"].dummy_host and rows["26.1"].dummy_host and rows["28.5"].dummy_host
    assert rows["28.5"].spaces_per_request_pool and not rows["26.1"].spaces_per_request_pool


ROOT = Path(__file__).resolve().parent.parent
DOCS = (ROOT / "docs" / "versions.md").read_text()
_TYPES = typing.get_type_hints(VersionRow)


@pytest.mark.parametrize("name", list(VERSION_ROWS))
def test_every_version_row_is_complete(name: str) -> None:
    row = VERSION_ROWS[name]
    assert row.name == name and lookup(name) is row
    for field in dataclasses.fields(VersionRow):
        value = getattr(row, field.name)
        kind = _TYPES[field.name]
        assert isinstance(value, typing.get_origin(kind) or kind), (name, field.name, value)
    for text in (row.no_address, row.ip_outside):
        assert text.strip(), name
    assert "{ip}" in row.ip_outside
    assert row.container_error_prefix in ("", row.container_error_prefix.rstrip() + " ")
    assert all(Endpoint(e) for e in row.logs_only)
    assert row.first_major <= row.major and DockerVersion(row.major).row is row


def test_every_row_fact_is_documented() -> None:
    """docs/versions.md names every field of the rows, and every row is verified or marked as
    read from the source there."""
    table = DOCS[DOCS.index("## The rows"):]
    for name in ROW_FIELDS:
        assert f"`{name}`" in table, name
    for row in VERSION_ROWS.values():
        state = "verified against " + row.verified if row.verified else "source-read"
        assert re.search(rf"\| `{re.escape(row.name)}` \| {re.escape(state)}", table), row.name


def test_dockerd_selection() -> None:
    assert selected_daemons("all") == list(DAEMONS.values())
    assert selected_daemons("") == list(DAEMONS.values())
    assert selected_daemons("28.5.2, 20") == [DAEMONS["28.5"], HOST]
    assert selected_daemons("26,26.1") == [DAEMONS["26.1"]]
    with pytest.raises(pytest.UsageError, match="--dockerd '27'"):
        selected_daemons("27")


@pytest.mark.docker
def test_auto_compat_asks_the_daemon_for_its_version(dockerd: Docker, plugin_name: str,
                                                     sockdir: Path) -> None:
    socket = sockdir / "auto.sock"
    process, output = run_until(dockerd, ["serve", "--name", plugin_name, "--listen",
                                          str(socket), "--state", "none", "--docker-compat",
                                          "auto"], "serving the built-in plugin")
    output = stop_until_done(process, output)
    mode = compat_mode(dockerd.version)
    assert f"dockerd {dockerd.version} answers on {dockerd.env['DOCKER_HOST']}" in output
    assert f"(--docker-compat {mode})" in output
    assert mode == {"20.10": "20.10", "26.1": "26", "28.5": "27"}[dockerd.daemon.label]


def test_auto_compat_without_a_daemon_warns_and_imitates_27(
        sockdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ipamx_spy.builtin import choose_compat

    monkeypatch.setenv("DOCKER_HOST", f"unix://{sockdir}/none.sock")
    auto = choose_compat("auto")
    assert auto.mode == "27" and auto.warning
    assert f"no dockerd version from unix://{sockdir}/none.sock" in auto.note
    given = choose_compat("26.1.5")  # anything else is the allocator's to read
    assert given.mode == "26.1.5" and not given.warning and not given.note
