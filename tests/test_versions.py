"""Version names: the emulator's rows, the allocator's compat modes and the daemon matrix agree
on what a Docker version a user types means."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from docker_env import DAEMONS, HOST, Docker, selected_daemons

from ipamx_spy.emulator.versions import VERSIONS, UnknownVersion, lookup
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


def test_the_allocator_refuses_what_is_not_a_version() -> None:
    with pytest.raises(ConfigError, match="expected a Docker version"):
        compat_mode("latest")


def test_every_daemon_of_the_matrix_has_a_verified_row() -> None:
    assert {lookup(label).name for label in DAEMONS} == {"20.10", "26", "28"}
    assert set(VERSIONS) == {"20.10", "26", "27", "28", "29"}
    rows = {label: lookup(label) for label in DAEMONS}
    assert not rows["20.10"].dummy_host and rows["26.1"].dummy_host and rows["28.5"].dummy_host
    assert rows["28.5"].spaces_per_request_pool and not rows["26.1"].spaces_per_request_pool


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
    process = subprocess.Popen(
        [sys.executable, "-m", "ipamx_spy", "serve", "--name", plugin_name, "--listen",
         str(socket), "--state", "none", "--docker-compat", "auto"], env=dockerd.env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert process.stdout is not None
    output = ""
    while "serving the built-in plugin" not in output:
        line = process.stdout.readline()
        assert line, f"serve exited:\n{output}"
        output += line
    process.send_signal(signal.SIGTERM)
    output += process.communicate(timeout=60)[0]
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
