"""Recording commands as a user starts and stops them: usage errors end at once (also with a
live view), ``--record`` never appends to an old recording, ``--json`` is a recording, and the
exit summary says where the recording is and what to do next."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from docker_env import spawn_spy
from typer.testing import CliRunner

from ipamx_spy import recording
from ipamx_spy.address import Address
from ipamx_spy.cli import app
from ipamx_spy.client import PluginConnection, docker_request
from ipamx_spy.render import plural

TALK = Path(__file__).parent.parent / "recordings" / "talk.jsonl"
POOL = (b'{"AddressSpace":"LocalDefault","Pool":"10.9.0.0/16","SubPool":"",'
        b'"Options":{},"V6":false}\n')


def run_spy(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ipamx-spy; a process that does not end within 60 s hangs."""
    try:
        return subprocess.run([sys.executable, "-m", "ipamx_spy", *args], capture_output=True,
                              text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"ipamx-spy {' '.join(args)} hung after a usage error") from None


@pytest.mark.parametrize("view", [[], ["--compact"]])
@pytest.mark.parametrize("bad", [["--socket-mode", "999"], ["--socket-mode", "rw"],
                                 ["--on-record-error", "maybe"], ["--filter", "~c"],
                                 ["--ignore-rule", "IPX999"], ["--redact", "a..b"]])
def test_a_usage_error_ends_the_proxy_at_once(sockdir: Path, view: list[str],
                                              bad: list[str]) -> None:
    done = run_spy("proxy", "--listen", str(sockdir / "p.sock"), "--no-record", "--state",
                   "none", "--control", str(sockdir / "c.ctl"), *view, *bad)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert bad[0] in done.stderr or bad[1] in done.stderr
    assert not (sockdir / "p.sock").exists()


def test_a_usage_error_ends_mock_at_once(sockdir: Path) -> None:
    done = run_spy("mock", str(TALK), "--listen", str(sockdir / "p.sock"), "--no-record",
                   "--socket-mode", "999")
    assert done.returncode == 2 and "--socket-mode" in done.stderr


def test_record_refuses_an_existing_recording(sockdir: Path) -> None:
    existing = sockdir / "old.jsonl"
    existing.write_bytes(TALK.read_bytes())
    done = run_spy("proxy", "--listen", str(sockdir / "p.sock"), "--record", str(existing),
                   "--state", "none", "--compact", "--control", str(sockdir / "c.ctl"))
    assert done.returncode == 2
    assert f"--record {existing}: the file exists" in " ".join(done.stderr.split())
    assert existing.read_bytes() == TALK.read_bytes()


def test_a_startup_failure_leaves_no_empty_recording(sockdir: Path) -> None:
    blocker = sockdir / "p.sock"
    blocker.write_text("not a socket")
    rec = sockdir / "new.jsonl"
    done = run_spy("proxy", "--listen", str(blocker), "--record", str(rec), "--state", "none",
                   "--quiet", "--control", str(sockdir / "c.ctl"))
    assert done.returncode == 2
    assert not rec.exists()


def test_json_output_is_a_recording_with_findings(sockdir: Path, tmp_path: Path) -> None:
    sock = sockdir / "p.sock"
    spy = spawn_spy(["proxy", "--listen", str(sock), "--state", "none", "--no-record",
                     "--json", "--control", str(sockdir / "c.ctl")], sock, None)
    with PluginConnection(Address(kind="unix", path=str(sock))) as conn:
        conn.call(docker_request("Plugin.Activate"))
        conn.call(docker_request("IpamDriver.ReleasePool", b'{"PoolID":"nope"}\n'))
    output = spy.stop()
    stream = tmp_path / "stream.jsonl"
    stream.write_text("".join(line + "\n" for line in output.splitlines()
                              if line.startswith("{")), encoding="utf-8")
    loaded = recording.load(stream)
    assert [e.endpoint for e in loaded.exchanges] == ["Plugin.Activate", "IpamDriver.ReleasePool"]
    # the validator's findings are records of the stream, as in the recording
    findings = [r for r in loaded.records if r["type"] == "finding"]
    assert findings and all(f["seq"] == 2 and f["code"] for f in findings)
    shown = CliRunner().invoke(app, ["show", str(stream), "--compact"])
    assert shown.exit_code == 0 and "IpamDriver.ReleasePool" in shown.stdout


def test_exit_summary_names_the_recording_and_next_steps(sockdir: Path) -> None:
    sock, rec = sockdir / "p.sock", sockdir / "r.jsonl"
    spy = spawn_spy(["proxy", "--listen", str(sock), "--state", "none", "--record", str(rec),
                     "--quiet", "--control", str(sockdir / "c.ctl")], sock, rec)
    with PluginConnection(Address(kind="unix", path=str(sock))) as conn:
        conn.call(docker_request("Plugin.Activate"))
        conn.call(docker_request("IpamDriver.RequestPool", POOL))
        conn.call(docker_request("IpamDriver.GetCapabilities"))
    output = spy.stop(signal.SIGINT)
    lines = output.splitlines()
    title = next(i for i, line in enumerate(lines) if "ipamx-spy summary" in line)
    assert lines[title - 1].strip() == ""  # the summary starts on a line of its own, not ^C's
    rows = [line for line in lines[title:] if "Plugin.Activate" in line
            or "IpamDriver." in line]
    order = [next(w for w in row.split() if "." in w) for row in rows[:3]]
    assert order == ["Plugin.Activate", "IpamDriver.RequestPool", "IpamDriver.GetCapabilities"]
    text = " ".join(output.split())
    assert f"recorded 3 exchanges to {rec}" in text
    assert f"ipamx-spy show {rec}" in text and f"ipamx-spy check {rec}" in text
    assert "ipamx-spy export" in text and "ipamx-spy replay" in text


def test_plurals() -> None:
    assert [plural(n, "exchange") for n in (0, 1, 2)] == ["0 exchanges", "1 exchange",
                                                          "2 exchanges"]
    assert plural(5, "error") == "5 errors" and plural(1, "error") == "1 error"
    assert plural(2, "finding") == "2 findings" and plural(3, "match") == "3 matches"


def test_check_counts_in_plain_words() -> None:
    result = CliRunner().invoke(app, ["check", str(Path(__file__).parent / "broken" /
                                                   "after-failed-activate.jsonl")])
    # The summary line names the file, so it wraps at 80 columns under a long checkout path.
    assert "2 exchanges, 2 warnings" in " ".join(result.stdout.split())


@pytest.mark.parametrize("width", [80, 160])
def test_compact_view_follows_the_width_without_breaking_words(width: int) -> None:
    import io

    from rich.console import Console

    from ipamx_spy.findings import Finding
    from ipamx_spy.live import LiveView

    buffer = io.StringIO()
    console = Console(file=buffer, width=width, color_system=None)
    view = LiveView(console=console, diagnostics=console, mode="compact")
    exchange = recording.load(TALK).exchanges[5]
    finding = Finding(code="IPX403", severity="info", seq=exchange.seq,
                      message="the answer's Content-Type is text/plain; dockerd ignores it")
    view._print_exchange(exchange, [finding])
    lines = buffer.getvalue().splitlines()
    assert len(lines) > 2 and max(len(line) for line in lines) <= width
    from ipamx_spy.render import annotation

    words = set(annotation(exchange).split()) | set(finding.message.split())
    for line in lines[1:]:
        for word in line.split():
            assert word in words or word in {"IPX403", "info:"}, word
    assert "IPX403 info: the answer's Content-Type is text/plain" in buffer.getvalue()
