"""Several hosts' recordings merged into one timeline: show, export, check --merge."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from brokenplugin import record, talk_calls
from etcd_cluster import EtcdCluster
from test_export_mermaid_render import tools  # noqa: F401,F811 - Chromium+Mermaid fixture

from ipamx_spy.app import Reply
from ipamx_spy.builtin import BuiltinConfig, make_plugin
from ipamx_spy.multihost.merge import merge
from ipamx_spy.multihost.rules import cross_host_findings
from ipamx_spy.multihost.timeline import build_merged_trace
from ipamx_spy.recording import Exchange, load, make_header

T0 = dt.datetime(2026, 12, 1, 12, 0, 0, tzinfo=dt.UTC)


def write(path: Path, host: str, exchanges: list[Exchange], offset: float,
          extra: list[dict[str, Any]] = ()) -> Path:  # type: ignore[assignment]
    header = make_header(name="ipamx", listen="/run/docker/plugins/ipamx.sock",
                         upstream="builtin", host=host)
    header["started"] = (T0 + dt.timedelta(seconds=offset)).isoformat().replace("+00:00", "Z")
    lines = [header, *(e.to_json() for e in exchanges), *extra]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return path


def separate_hosts(tmp_path: Path) -> list[Path]:
    """Two hosts, each with its own (unshared) allocator, both using one global subnet."""
    calls = talk_calls("GlobalDefault")
    a = record(make_plugin(BuiltinConfig()), calls)
    b = record(make_plugin(BuiltinConfig()), calls)
    note = {"type": "note", "seq": 5, "text": "gateway on a", "t": 0.06}
    return [write(tmp_path / "a.jsonl", "node-a", a, 0.0, [note]),
            write(tmp_path / "b.jsonl", "node-b", b, 0.005)]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ipamx_spy", *args], capture_output=True,
                          text=True, timeout=120, env={**os.environ, "COLUMNS": "200"})


def test_merge_orders_by_wall_clock_and_renumbers(tmp_path: Path) -> None:
    paths = separate_hosts(tmp_path)
    merged = merge([load(p) for p in paths])
    assert merged.hosts == ("node-a", "node-b")
    seqs = [e.seq for e in merged.recording.exchanges]
    assert seqs == list(range(1, 23))
    times = [e.t for e in merged.recording.exchanges]
    assert times == sorted(times)
    # a at 0.01, 0.02 …; b 5 ms later: the lanes alternate
    assert [merged.lanes[s] for s in seqs[:4]] == ["node-a", "node-b", "node-a", "node-b"]
    assert merged.origin[3] == ("node-a", 2) and merged.origin[4] == ("node-b", 2)
    [note] = [r for r in merged.recording.records if r.get("type") == "note"]
    assert merged.origin[note["seq"]] == ("node-a", 5)
    assert merged.recording.header["hosts"] == ["node-a", "node-b"]
    conns = {merged.lanes[e.seq]: set() for e in merged.recording.exchanges}
    for e in merged.recording.exchanges:
        conns[merged.lanes[e.seq]].add(e.conn)
    assert not conns["node-a"] & conns["node-b"]


def test_same_global_address_on_two_hosts_is_an_error(tmp_path: Path) -> None:
    merged = merge([load(p) for p in separate_hosts(tmp_path)])
    findings = cross_host_findings((merged.lanes[e.seq], e) for e in merged.recording.exchanges)
    codes = [f.code for f in findings]
    assert codes.count("IPX501") == 3  # gateway .1, the static .21 and the dynamic .2
    first = next(f for f in findings if f.code == "IPX501")
    assert merged.lanes[first.seq] == "node-b" and "node-a" in first.message
    assert "IPX502" in codes  # node-a released the pool while node-b still held it

    checked = run("check", "--merge", *map(str, separate_hosts(tmp_path)))
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert "merged timeline of node-a, node-b" in checked.stdout
    assert "IPX501 error" in checked.stdout
    listed = run("check", "--codes").stdout
    assert "IPX501" in listed and "IPX502" in listed


class LowerCaseSpaces:
    """The built-in plugin, but its GetDefaultAddressSpaces answer spells its keys as Go's
    decoder still takes them (``globalDefaultAddressSpace``)."""

    def __init__(self, config: BuiltinConfig) -> None:
        self.app = make_plugin(config)

    def handle(self, endpoint: str, body: bytes) -> Reply:
        reply = self.app.handle(endpoint, body)
        if endpoint != "IpamDriver.GetDefaultAddressSpaces":
            return reply
        return Reply.json(reply.status, {k[0].lower() + k[1:]: v for k, v in reply.value.items()})


def test_the_global_space_is_the_one_the_answer_names_as_dockerd_reads_it() -> None:
    """A global space whose name says nothing ("Swarmwide"), named by an answer with keys in
    another case: dockerd reads it, and so do the rules (the name alone would say nothing)."""
    calls = talk_calls("Swarmwide")
    a, b = (record(LowerCaseSpaces(BuiltinConfig(global_space="Swarmwide")), calls)
            for _ in range(2))
    assert "globalDefaultAddressSpace" in str(a[2].response.value)  # type: ignore[union-attr]
    walk = [(host, e) for pair in zip(a, b, strict=True)
            for host, e in zip(("node-a", "node-b"), pair, strict=True)]
    codes = [f.code for f in cross_host_findings(walk)]
    assert codes.count("IPX501") == 3 and "IPX502" in codes


def test_local_spaces_overlap_without_findings(tmp_path: Path) -> None:
    calls = talk_calls("LocalDefault")
    paths = [write(tmp_path / f"{h}.jsonl", h, record(make_plugin(BuiltinConfig()), calls),
                   i * 0.003) for i, h in enumerate(("x", "y"))]
    merged = merge([load(p) for p in paths])
    assert cross_host_findings((merged.lanes[e.seq], e) for e in merged.recording.exchanges) == []


@pytest.fixture
def shared_hosts(tmp_path: Path) -> Any:
    """Two hosts on one etcd store: the second host's static address is refused."""
    with EtcdCluster(1) as cluster:
        calls = talk_calls("GlobalDefault")
        plugins = [make_plugin(BuiltinConfig(store=cluster.store_url, host_id=h))
                   for h in ("node-a", "node-b")]
        try:
            a = record(plugins[0], calls[:6])
            b = record(plugins[1], calls[:6])
            a_end = record(plugins[0], calls[8:])
        finally:
            for p in plugins:
                p.close()
        a += [Exchange(**{**vars(e), "seq": 6 + i, "t": 0.2 + i * 0.01})  # type: ignore[arg-type]
              for i, e in enumerate(a_end, 1)]
        yield [write(tmp_path / "a.jsonl", "node-a", a, 0.0),
               write(tmp_path / "b.jsonl", "node-b", b, 0.1)]


def test_shared_store_timeline_passes_check(shared_hosts: list[Path]) -> None:
    checked = run("check", "--merge", "--json", *map(str, shared_hosts))
    report = json.loads(checked.stdout)
    merged = report["recordings"][-1]
    codes = [f["code"] for f in merged["findings"]]
    assert "IPX501" not in codes
    assert codes.count("IPX502") == 1  # node-a let go while node-b holds: counted per host
    assert checked.returncode == 0, checked.stdout


def test_show_and_exports_have_a_lane_per_host(tmp_path: Path) -> None:
    paths = list(map(str, separate_hosts(tmp_path)))
    shown = run("show", "--compact", *paths)
    assert shown.returncode == 0, shown.stderr
    assert "merged timeline of 2 hosts: node-a, node-b" in shown.stdout
    assert "node-a: docker network create" in shown.stdout
    assert any(line.startswith("node-b ") and "RequestAddress" in line
               for line in shown.stdout.splitlines())

    mermaid = run("export", "-f", "mermaid", *paths).stdout
    assert "participant d0 as dockerd on node-a" in mermaid
    assert "participant s1 as ipamx-spy + plugin on node-b" in mermaid
    assert "d1->>s1: #35;2 Activate" in mermaid  # # is #35; in Mermaid

    html = run("export", "-f", "html", *paths)
    assert html.returncode == 0
    assert html.stdout.count('class="head l0"') == 2  # dockerd, spy and plugin per host
    assert "<small>node-a</small>" in html.stdout and "<small>node-b</small>" in html.stdout

    svg = run("export", "-f", "svg", *paths)
    assert svg.returncode == 0 and "node-b" in svg.stdout

    trace = build_merged_trace([load(p) for p in paths])
    assert trace.hosts == ("node-a", "node-b") and trace.source == "a.jsonl + b.jsonl"
    assert {f.code for f in trace.findings} >= {"IPX501", "IPX502"}


def test_merged_mermaid_is_drawn_by_mermaid(
        tools: tuple[str, Path], tmp_path: Path) -> None:  # noqa: F811
    import re

    from test_export_mermaid_render import FLAGS, PAGE

    from ipamx_spy.export import FORMATS

    chromium, bundle = tools
    paths = separate_hosts(tmp_path)
    trace = build_merged_trace([load(p) for p in paths], validate=False)
    page = tmp_path / "diagram.html"
    page.write_text(PAGE % (bundle.as_uri(), json.dumps(FORMATS["mermaid"](trace))),
                    encoding="utf-8")
    result = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         page.as_uri()], capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL)
    status = re.search(r'data-result="([^"]*)"', result.stdout)
    assert status is not None and status[1] == "ok", (status and status[1]) or result.stderr
    labels = re.findall(r"<text[^>]*>([^<]*)</text>", result.stdout)
    for host in trace.hosts:
        for actor in (f"dockerd on {host}", f"ipamx-spy + plugin on {host}"):
            assert f">{actor}<" in result.stdout, f"participant {actor} is not drawn"
    for exchange in trace.exchanges:
        method = exchange.endpoint.split(".", 1)[-1]
        assert any(label.startswith(f"#{exchange.seq} {method}") for label in labels)


def test_the_html_page_draws_each_host_in_its_lanes_in_the_merges_order(
        tmp_path: Path) -> None:
    from ipamx_spy.export import FORMATS
    from ipamx_spy.web import query, view
    from ipamx_spy.web.board import FileBoard

    paths = separate_hosts(tmp_path)
    trace = build_merged_trace([load(p) for p in paths])
    board = view.board_of_merged(trace)
    assert [(h.label, h.lane) for h in board.hosts] == [("node-a", "node-a"),
                                                         ("node-b", "node-b")]
    rows = [i for i in view.items(board) if i.kind == "exchange"]
    assert [i.seq for i in rows] == [e.seq for e in merge([load(p) for p in paths])
                                     .recording.exchanges]
    assert all(i.host == trace.hosts.index(trace.lanes[i.seq]) for i in rows)
    assert 'style="left:58.333%' in rows[1].html  # node-b's request starts in its own lanes
    sections = [i for i in view.items(board) if i.kind == "section"]
    assert {i.host for i in sections} == {0, 1} and all(
        f"{trace.hosts[i.host]}: " in i.html for i in sections)
    page = FORMATS["html"](trace)
    for item in view.items(board):
        assert item.html in page
    findings = len(trace.findings)
    assert f"{findings} findings" in view.meta_text(board)  # counted once, not once per lane
    assert view.items(FileBoard(paths).build().board) == view.items(board)
    kept = query.shown(board, query.compile_query("RequestAddress"))
    assert kept and all(k.startswith(("x", "s")) for k in kept)
    assert {k for k in kept if k.startswith("x")} == {
        view.exchange_id(board, i.host, i.seq) for i in rows if "RequestAddress" in i.html
        and 'data-ep="IpamDriver.RequestAddress"' in i.html}
