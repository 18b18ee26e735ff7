"""The pytest plugin, driven by pytester: collection, verdicts, options, lazy imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# pytester's in-process runs restore sys.modules afterwards: a module first imported inside one
# run is dropped, and a later run would mix two copies of rich's classes. Import them here.
import rich.console  # noqa: F401
import rich.segment  # noqa: F401
import rich.text  # noqa: F401
from brokenplugin import mini_plugin, record, serve, talk_calls, write_recording

import ipamx_spy.replay.engine  # noqa: F401
import ipamx_spy.replay.report  # noqa: F401
from ipamx_spy import pytest_plugin, recording

pytest_plugins = ["pytester"]

GOLDEN = Path(__file__).parent / "golden" / "synthetic.jsonl"


@pytest.fixture
def corpus(pytester: pytest.Pytester) -> Path:
    """A directory with two recordings and two unrelated JSON Lines files."""
    directory = pytester.mkdir("recordings")
    (directory / "golden.jsonl").write_bytes(GOLDEN.read_bytes())
    write_recording(directory / "talk.jsonl", record(mini_plugin(), talk_calls()))
    (directory / "events.jsonl").write_text('{"type": "header", "format": "other"}\n')
    (directory / "broken.jsonl").write_text("not json at all\n")
    return directory


def test_format_constant_matches_the_recording_module() -> None:
    assert pytest_plugin.RECORDING_FORMAT == recording.FORMAT


def test_collects_one_item_per_recording_and_nothing_else(pytester: pytest.Pytester,
                                                          corpus: Path) -> None:
    result = pytester.runpytest("--collect-only", "-q",
                                "recordings")
    result.stdout.fnmatch_lines(["recordings/golden.jsonl::replay",
                                 "recordings/talk.jsonl::replay", "*2 tests collected*"])
    assert "events.jsonl" not in result.stdout.str()


def test_recordings_pass_against_the_builtin_reference(pytester: pytest.Pytester,
                                                       corpus: Path) -> None:
    result = pytester.runpytest("recordings")
    result.assert_outcomes(passed=2)


def test_mismatch_is_reported_with_the_readable_diff(pytester: pytest.Pytester, corpus: Path,
                                                     sockdir: Path) -> None:
    with serve(sockdir / "p.sock", "wrong-address"):
        result = pytester.runpytest("recordings",
                                    "--ipamx-target", f"unix://{sockdir}/p.sock")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines([
        "*✗ #6 IpamDriver.RequestAddress (connection c1)*",
        "*meaning: received request for one IP address*",
        '*Address: the recording has "10.4.4.21/24", the plugin answered "10.4.4.22/24"*',
        '*-  "Address": "10.4.4.21/24",*',
        '*+  "Address": "10.4.4.22/24",*',
    ])
    assert "Traceback" not in result.stdout.str()


def test_target_and_timeout_come_from_the_ini_file(pytester: pytest.Pytester, corpus: Path,
                                                   sockdir: Path) -> None:
    pytester.makeini(f"[pytest]\nipamx_target = {sockdir}/p.sock\nipamx_timeout = 0.2\n")
    with serve(sockdir / "p.sock", "stall"):
        result = pytester.runpytest("recordings/golden.jsonl")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*no answer within 0.2 s (--timeout)*"])


def test_strict_and_ignore_options(pytester: pytest.Pytester, corpus: Path) -> None:
    renamed = ["recordings/golden.jsonl",
               "--ipamx-target", "builtin:local-space=blue"]
    pytester.runpytest(*renamed).assert_outcomes(passed=1)
    strict = pytester.runpytest(*renamed, "--ipamx-strict")
    strict.assert_outcomes(failed=1)
    strict.stdout.fnmatch_lines(['*LocalDefaultAddressSpace: the recording has "LocalDefault"*'])
    ignored = pytester.runpytest(*renamed, "--ipamx-strict", "--ipamx-ignore",
                                 "LocalDefaultAddressSpace")
    ignored.assert_outcomes(failed=1)  # exchange 10: the error text differs
    assert "LocalDefaultAddressSpace" not in ignored.stdout.str()


def test_unusable_target_fails_with_the_reason(pytester: pytest.Pytester, corpus: Path,
                                               sockdir: Path) -> None:
    result = pytester.runpytest("recordings/golden.jsonl",
                                "--ipamx-target", str(sockdir / "nobody.sock"))
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*cannot replay golden.jsonl: target *nobody.sock*"])


def test_loading_the_plugin_imports_nothing_heavy() -> None:
    code = ("import sys, ipamx_spy.pytest_plugin; "
            "heavy = [m for m in ('rich', 'ipamx_spy.replay.engine', 'ipamx_spy.client', "
            "'h11') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
