"""The mitmproxy flow export and the addon, checked by mitmproxy itself.

mitmproxy runs from its own virtualenv (the ``mitm_python`` fixture: skipped without it, failed
under IPAMX_SPY_REQUIRE_TOOLS=1): its ``FlowReader`` reads every field back, ``mitmdump -nr``
lists every exchange with its comment and applies its filters, the addon's contentview renders
every endpoint of the talk's recording, ``ipamx.export`` writes the recording back (and replay of
it is green), and mitmweb serves the flows with their comments and markers over its HTTP API.
"""

from __future__ import annotations

import http.cookiejar
import json
import re
import socket
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mitm_check import plain
from typer.testing import CliRunner

from ipamx_spy import recording as rec
from ipamx_spy.cli import app
from ipamx_spy.export import build_trace
from ipamx_spy.export.mitm import export_mitm, flow_states
from ipamx_spy.mitm import flowstate

HERE = Path(__file__).parent
ADDON = HERE.parent / "ipamx_spy" / "mitm_addon.py"
TALK = HERE.parent / "recordings" / "talk.jsonl"
SOURCES = {"talk": TALK, "synthetic": HERE / "golden" / "synthetic.jsonl",
           "errors": HERE.parent / "recordings" / "errors.jsonl"}
FLOW_LINE = re.compile(r"^dockerd:\d+: (\w+) (\S+)$")


@pytest.fixture(scope="module")
def flow_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    where = tmp_path_factory.mktemp("mitm")
    files = {}
    for name, source in SOURCES.items():
        files[name] = where / f"{name}.mitm"
        files[name].write_bytes(export_mitm(build_trace(rec.load(source))))
    return files


def states(name: str) -> list[dict[str, Any]]:
    return list(flow_states(build_trace(rec.load(SOURCES[name]))))


def mitm_tool(python: Path, tool: str) -> str:
    return str(python.parent / tool)


def mitmdump(python: Path, *args: str) -> str:
    result = subprocess.run([mitm_tool(python, "mitmdump"), "-n", *args], capture_output=True,
                            text=True, timeout=300, cwd=HERE)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result.stdout


def listed(output: str) -> list[str]:
    """The request paths mitmdump listed, in order."""
    paths = []
    for line in output.splitlines():
        match = FLOW_LINE.match(line)
        if match:
            paths.append(match.group(2).split("/", 3)[-1])
    return paths


def paths_of(flows: list[dict[str, Any]]) -> list[str]:
    return [f["request"]["path"].decode().lstrip("/") for f in flows]


# -- mitmproxy's reader ---------------------------------------------------------------------

def test_flow_reader_reads_back_every_field(mitm_python: Path, flow_files: dict[str, Path],
                                            tmp_path: Path) -> None:
    out = tmp_path / "states.json"
    result = subprocess.run([str(mitm_python), str(HERE / "mitm_check.py"), "state", str(out),
                             *map(str, flow_files.values())],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    read = json.loads(out.read_text(encoding="utf-8"))
    for name, path in flow_files.items():
        assert read[str(path)] == plain(states(name)), name


# -- mitmdump -------------------------------------------------------------------------------

def test_mitmdump_lists_every_exchange_with_its_comment(mitm_python: Path,
                                                        flow_files: dict[str, Path]) -> None:
    output = mitmdump(mitm_python, "-r", str(flow_files["synthetic"]), "-s", str(ADDON),
                      "--set", "flow_detail=2")
    flows = states("synthetic")
    assert listed(output) == paths_of(flows)
    for flow in flows:
        for line in flow["comment"].splitlines():
            assert f"   # {line}\n" in output


FILTERS = {
    "~u RequestAddress": lambda f: b"RequestAddress" in f["request"]["path"],
    "~b 10.4.4.21": lambda f: b"10.4.4.21" in f["request"]["content"] + (
        f["response"]["content"] if f["response"] else b""),
    "~c 200": lambda f: f["response"] is not None and f["response"]["status_code"] == 200,
    "~marked": lambda f: bool(f["marked"]),
    "~comment only.logs": lambda f: "only logs" in f["comment"],
}


@pytest.mark.parametrize("expression", list(FILTERS))
def test_mitmproxy_filters_work_on_the_flows(mitm_python: Path, flow_files: dict[str, Path],
                                             expression: str) -> None:
    flows = states("synthetic")
    wanted = [f for f in flows if FILTERS[expression](f)]
    assert 0 < len(wanted) < len(flows)
    output = mitmdump(mitm_python, "-r", str(flow_files["synthetic"]), "--set",
                      "flow_detail=2", expression)
    assert listed(output) == paths_of(wanted)


def test_the_contentview_renders_every_endpoint_of_the_talk(
    mitm_python: Path, flow_files: dict[str, Path],
) -> None:
    output = mitmdump(mitm_python, "-r", str(flow_files["talk"]), "-s", str(ADDON),
                      "--set", "flow_detail=3", "--set", "ipamx_comments=false")
    assert "   # " not in output
    recording = rec.load(TALK)
    for exchange in recording.exchanges:
        heading = f"    {exchange.endpoint} — "
        assert output.count(heading) >= 2, exchange.endpoint  # its request and its answer
    pool = next(e for e in recording.exchanges if e.endpoint == "IpamDriver.RequestPool")
    assert re.search(r"^ +AddressSpace +str +\"ipamx-local\"$", output, re.M)
    assert re.search(r"^ +PoolID +str +\"ipamx-local/10\.4\.4\.0/24\"$", output, re.M)
    assert f"    {flowstate_sentence(pool)}\n" in output
    assert output.count("    dockerd: success\n") == len(recording.exchanges)


def flowstate_sentence(exchange: rec.Exchange) -> str:
    from ipamx_spy.mitm import view

    return view.sentence(exchange)


# -- back into a recording ------------------------------------------------------------------

def test_ipamx_export_writes_the_recording_back_and_replay_is_green(
    mitm_python: Path, flow_files: dict[str, Path], tmp_path: Path,
) -> None:
    pairs = []
    for name, path in flow_files.items():
        pairs += [str(path), str(tmp_path / f"{name}.jsonl")]
    result = subprocess.run([str(mitm_python), str(HERE / "mitm_check.py"), "export",
                             str(ADDON), *pairs], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for name, source in SOURCES.items():
        back, original = rec.load(tmp_path / f"{name}.jsonl"), rec.load(source)
        assert [e.to_json() for e in back.exchanges] == [e.to_json() for e in original.exchanges]
        assert back.records == original.records and back.header == original.header
    replay = CliRunner().invoke(app, ["replay", "-q", str(tmp_path / "talk.jsonl")])
    assert replay.exit_code == 0, replay.output
    assert "talk.jsonl: 11 passed, 0 failed" in replay.output


# -- mitmweb --------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def mitmweb(mitm_python: Path, flow_files: dict[str, Path]) -> Iterator[str]:
    """mitmweb with the synthetic session and the addon, its API on a loopback port."""
    port = _free_port()
    process = subprocess.Popen(
        [mitm_tool(mitm_python, "mitmweb"), "-n", "-r", str(flow_files["synthetic"]),
         "-s", str(ADDON), "--set", "server=false", "--set", "web_open_browser=false",
         "--set", "web_host=127.0.0.1", "--set", f"web_port={port}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=HERE)
    listening = threading.Event()
    lines: list[str] = []

    def drain() -> None:  # reads until mitmweb exits, so that its output never blocks it
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if f"Web server listening at http://127.0.0.1:{port}/" in line:
                listening.set()

    reader = threading.Thread(target=drain, name="mitmweb-output", daemon=True)
    reader.start()
    try:
        if not listening.wait(timeout=120):
            pytest.fail("mitmweb did not serve within 120 s: " + "".join(lines)[-2000:])
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)
        reader.join(timeout=30)


class WebAPI:
    """mitmweb's HTTP API as its page uses it: a cookie session with the XSRF token."""

    def __init__(self, base: str) -> None:
        self.base = base
        jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        with self.opener.open(f"{base}/", timeout=30):
            pass  # sets the _xsrf cookie that a POST or PUT must echo
        self.token = next(c.value for c in jar if c.name == "_xsrf")

    def call(self, path: str, method: str = "GET", payload: dict[str, Any] | None = None) -> Any:
        request = urllib.request.Request(
            f"{self.base}{path}", method=method,
            data=None if payload is None else json.dumps(payload).encode(),
            headers={"Content-Type": "application/json", "X-XSRFToken": self.token})
        with self.opener.open(request, timeout=60) as answer:
            body = answer.read()
        return json.loads(body) if body else None

    def flows(self, count: int) -> list[dict[str, Any]]:
        """The flows, once mitmweb has read all ``count`` of them in (it does after serving)."""
        served: list[dict[str, Any]] = []
        for _attempt in range(100):  # bounded: 100 looks, 0.1 s apart
            served = self.call("/flows.json")
            if len(served) >= count:
                break
            time.sleep(0.1)
        return served


def test_mitmweb_serves_the_flows_and_runs_the_export(mitmweb: str, tmp_path: Path) -> None:
    api = WebAPI(mitmweb)
    expected = states("synthetic")
    served = api.flows(len(expected))
    assert [f["id"] for f in served] == [f["id"] for f in expected]
    assert [f["comment"] for f in served] == [f["comment"] for f in expected]
    assert [bool(f["marked"]) for f in served] == [bool(f["marked"]) for f in expected]
    assert {f["marked"] for f in served} == {"", "🔖", "❌", "⚠"}
    out = tmp_path / "marked.jsonl"
    assert "error" not in api.call("/commands/ipamx.export", "POST",
                                   {"arguments": ["@marked", str(out)]})
    marked = [f["metadata"][flowstate.META]["exchange"]["seq"] for f in expected if f["marked"]]
    assert [e.seq for e in rec.load(out).exchanges] == marked


def test_a_flow_edited_in_mitmweb_is_what_replay_checks(mitmweb: str, tmp_path: Path) -> None:
    api = WebAPI(mitmweb)
    expected = states("synthetic")
    assert len(api.flows(len(expected))) == len(expected)
    sixth = next(f for f in expected if f["metadata"][flowstate.META]["exchange"]["seq"] == 6)
    edited = '{"Address":"10.4.4.99/24","Data":{}}\n'
    api.call(f"/flows/{sixth['id']}", "PUT",
             {"response": {"content": edited},
              "comment": sixth["comment"] + "\nnote: answered .99 to see replay fail"})
    out = tmp_path / "edited.jsonl"
    assert "error" not in api.call("/commands/ipamx.export", "POST",
                                   {"arguments": ["@all", str(out)]})
    recording = rec.load(out)
    exchange = next(e for e in recording.exchanges if e.seq == 6)
    assert exchange.response is not None and exchange.response.raw_body == edited.encode()
    assert exchange.response.header("Content-Length") == str(len(edited))
    assert recording.notes()[6][-1] == "answered .99 to see replay fail"
    replay = CliRunner().invoke(app, ["replay", "-q", str(out)])
    assert replay.exit_code == 1, replay.output
    assert "#6 IpamDriver.RequestAddress" in replay.output
