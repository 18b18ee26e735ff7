"""The web view without a browser: the page's items, the filter, the server's guard and feed."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
from collections.abc import AsyncGenerator, Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ipamx_spy import recording as rec
from ipamx_spy.export import FORMATS, build_trace
from ipamx_spy.recording import append_records
from ipamx_spy.web import query, server, view
from ipamx_spy.web.board import FileBoard, LiveBoard

HERE = Path(__file__).parent
TALK = HERE.parent / "recordings" / "talk.jsonl"
ERRORS = HERE.parent / "recordings" / "errors.jsonl"


def board(*paths: Path) -> view.Board:
    return FileBoard(list(paths)).build().board


# -- the page's items -----------------------------------------------------------------------


def test_items_are_sections_then_their_exchanges_in_recording_order() -> None:
    loaded = rec.load(TALK)
    found = view.items(board(TALK))
    rows = [i for i in found if i.kind == "exchange"]
    assert [i.seq for i in rows] == [e.seq for e in loaded.exchanges]
    assert found[0].kind == "section" and "docker network create" in found[0].html
    first = rows[0].html
    assert 'id="x1"' in first and "Plugin.Activate" in first and "200 OK" in first
    assert "dockerd activates the plugin" in first  # the plain-words sentence beside it


def test_a_failed_answer_is_drawn_bad_and_says_what_dockerd_sees() -> None:
    rows = [i for i in view.items(board(ERRORS)) if i.kind == "exchange"]
    bad = [i for i in rows if 'class="x bad"' in i.html]
    assert bad, "errors.jsonl holds failed exchanges"
    assert all("dockerd sees:" in i.html and "arrow resp bad" in i.html for i in bad)


def test_several_recordings_get_a_lane_set_each_and_are_merged_by_time(tmp_path: Path) -> None:
    second = tmp_path / "host2.jsonl"
    shutil.copy(TALK, second)
    merged = board(TALK, second)
    assert merged.lanes == 6 and [h.label for h in merged.hosts] == ["talk", "host2"]
    ids = [i.id for i in view.items(merged) if i.kind == "exchange"]
    # merged by ipamx_spy.multihost (renumbered in time order); same times: host order first
    assert ids[:2] == ["x1-1", "x2-2"]
    assert len(ids) == 2 * len(rec.load(TALK).exchanges)
    page = view.page_html(merged, mode="recordings")
    assert page.count('class="head l0"') == 2 and "<small>host2</small>" in page


def test_the_html_export_is_the_page_with_every_item_inlined() -> None:
    trace = build_trace(rec.load(TALK), validate=False)
    page = FORMATS["html"](trace)
    assert 'data-mode="static"' in page and 'id="filter"' not in page
    for item in view.items(view.board_of([("", trace)], title=trace.source)):
        assert item.html in page


def test_page_modes_are_checked() -> None:
    with pytest.raises(ValueError, match="unknown page mode"):
        view.page_html(board(TALK), mode="bogus")


# -- the filter -----------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("", ["s1", "x1", "x2", "x3", "x4", "x5", "s2", "x6", "s3", "x7", "s4", "x8", "x9",
          "s5", "s6", "x10", "x11"]),
    ("RequestAddress", ["s1", "x5", "s2", "x6", "s3", "x7"]),
    ("release ~n 9-", ["s4", "x9", "s6", "x10", "x11"]),
    ("~n 1,4", ["s1", "x1", "x4"]),
    ("~err", []),
    ("~e Release & ~mark 'network rm'", ["s6", "x10", "x11"]),
    ("~sec 'docker run' & !~n 6", ["s3", "x7"]),
])
def test_filter_keeps_rows_and_the_sections_holding_them(text: str, expected: list[str]) -> None:
    assert query.shown(board(TALK), query.compile_query(text)) == expected


def test_filter_errors_say_what_is_wrong() -> None:
    with pytest.raises(query.QueryError, match="column 13: '[|]' needs a test on both sides"):
        query.compile_query("RequestPool |")


# -- addresses -------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ("127.0.0.1:8600", ("127.0.0.1", 8600)), (":0", ("127.0.0.1", 0)),
    ("9000", ("127.0.0.1", 9000)),
    ("[::1]:8500", ("::1", 8500)), ("localhost", ("localhost", 8500)),
])
def test_parse_address(text: str, expected: tuple[str, int]) -> None:
    assert server.parse_address(text) == expected


def test_parse_address_refuses_a_bad_port() -> None:
    with pytest.raises(server.ListenAddressError, match="port"):
        server.parse_address("127.0.0.1:http")


# -- the server -------------------------------------------------------------------------------

Body = Callable[[str, aiohttp.ClientSession], Coroutine[Any, Any, None]]


async def serving(source: server.Source, body: Body, mode: str = "recordings") -> None:
    sock = server.bind("127.0.0.1", 0)
    web = server.WebView(source=source, sock=sock, token=server.new_token(), mode=mode)
    task = asyncio.get_running_loop().create_task(web.run(), name="web view under test")
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            for _ in range(200):  # until it listens (bounded)
                if web.current is not None:
                    break
                await asyncio.sleep(0.02)
            await body(web.url, session)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def run(source: server.Source, body: Body, mode: str = "recordings") -> None:
    asyncio.run(asyncio.wait_for(serving(source, body, mode), timeout=60))


def base(url: str) -> str:
    return url.split("?", 1)[0]


def test_the_page_needs_the_token_and_then_sets_a_cookie() -> None:
    async def body(url: str, session: aiohttp.ClientSession) -> None:
        async with session.get(base(url)) as refused:
            assert refused.status == 403 and "token" in await refused.text()
        async with session.get(base(url) + "?token=wrong") as wrong:
            assert wrong.status == 403
        async with session.get(url) as page:
            assert page.status == 200 and 'data-mode="recordings"' in await page.text()
            assert page.headers["Referrer-Policy"] == "no-referrer"
            assert "default-src 'none'" in page.headers["Content-Security-Policy"]
        async with session.get(base(url) + "api/filter?q=RequestPool") as by_cookie:
            assert (await by_cookie.json()) == {"shown": ["s1", "x4"]}
        async with session.post(url) as posted:
            assert posted.status == 405  # read-only

    run(FileBoard([TALK]), body)


class PageModel:
    """What a page shows after each event, kept as ``page.js`` keeps it: a full event sets
    everything; any other keeps the first ``keep`` items, puts ``tail`` after them and takes
    the HTML of ``items``."""

    def __init__(self) -> None:
        self.order: list[str] = []
        self.html: dict[str, str] = {}

    def apply(self, event: dict[str, Any]) -> dict[str, Any]:
        if event.get("full"):
            self.order, self.html = list(event["order"]), dict(event["items"])
        else:
            assert 0 <= event["keep"] <= len(self.order)
            self.order = self.order[:event["keep"]] + list(event["tail"])
            self.html.update(event["items"])
        missing = [i for i in self.order if i not in self.html]
        assert not missing, f"the event left items without their HTML: {missing}"
        self.html = {i: self.html[i] for i in self.order}
        return {"order": list(self.order), "items": dict(event["items"]), "event": event,
                "html": dict(self.html), "meta": event["meta"]}


async def states(url: str, session: aiohttp.ClientSession, since: int | None = None,
                 ) -> AsyncGenerator[dict[str, Any], None]:
    """The page's state after each event of the feed (``order``, ``html``), with what the
    event itself carried (``items``: the HTML it sent, ``event``)."""
    params = {"token": url.split("token=")[1]}
    if since is not None:
        params["since"] = str(since)
    page = PageModel()
    async with session.get(base(url) + "events", params=params) as r:
        assert r.headers["Content-Type"].startswith("text/event-stream")
        event = ""
        async for raw in r.content:
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "state":
                yield page.apply(json.loads(line[6:]))


def test_the_feed_sends_everything_then_only_what_changed(tmp_path: Path) -> None:
    path = tmp_path / "growing.jsonl"
    shutil.copy(TALK, path)

    async def body(url: str, session: aiohttp.ClientSession) -> None:
        feed = states(url, session)
        first = await anext(feed)
        assert len(first["items"]) == len(first["order"]) == 17
        append_records(path, [{"type": "note", "seq": 6, "text": "asked with --ip", "t": 9.0}])
        second = await anext(feed)
        assert list(second["items"]) == ["x6"] and "asked with --ip" in second["items"]["x6"]
        assert second["order"] == first["order"] and "1 note" in second["meta"]
        await feed.aclose()

    run(FileBoard([path]), body)


def test_live_board_grows_with_the_records_and_validates_them() -> None:
    loaded = rec.load(TALK)
    live = LiveBoard(dict(loaded.header))
    woken: list[int] = []
    live.wake = lambda: woken.append(1)

    async def body(url: str, session: aiohttp.ClientSession) -> None:
        feed = states(url, session)
        assert (await anext(feed))["order"] == []
        for record in loaded.records[:6]:
            live.on_record(dict(record), None)
        seen = (await anext(feed))["order"]
        while len([i for i in seen if i.startswith("x")]) < 2:  # records may come in two builds
            seen = (await anext(feed))["order"]
        for record in loaded.records[6:]:
            live.on_record(dict(record), None)
        while len([i for i in seen if i.startswith("x")]) < len(loaded.exchanges):
            seen = (await anext(feed))["order"]
        assert seen == [i.id for i in view.items(board(TALK))]
        await feed.aclose()

    run(live, body, mode="live")
    assert woken and live.build(len(loaded.records)).board.hosts[0].trace.findings == ()



def _unmarked(path: Path, directory: Path) -> Path:
    """The recording without its markers (sections then are inferred only)."""
    lines = [line for line in path.read_text().splitlines()
             if json.loads(line).get("type") != "marker"]
    copy = directory / path.name
    copy.write_text("\n".join(lines) + "\n")
    return copy


@pytest.mark.parametrize("name", ["talk", "errors", "dynamic-pools", "netdriver-lifecycle"])
@pytest.mark.parametrize("marked", [True, False])
def test_live_board_built_as_records_come_shows_what_the_whole_recording_does(
        tmp_path: Path, name: str, marked: bool) -> None:
    path = HERE.parent / "recordings" / f"{name}.jsonl"
    path = path if marked else _unmarked(path, tmp_path)
    loaded = rec.load(path)
    live = LiveBoard(dict(loaded.header), validate=False)
    for count, record in enumerate(loaded.records, 1):  # one build per record, as when busy
        live.on_record(dict(record), None)
        live.build(count)
    built = live.build(len(loaded.records))
    whole = FileBoard([path], validate=False).build()
    assert built.items == whole.items
    assert built.meta == whole.meta == view.meta_text(whole.board)


def _long_session(count: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``count`` exchanges back to back: the unmarked corpus recordings' calls over again."""
    loaded = [rec.load(HERE.parent / "recordings" / f"{name}.jsonl")
              for name in ("dynamic-pools", "errors", "netdriver-lifecycle")]
    calls = [r for one in loaded for r in one.records if r.get("type") == "exchange"]
    records = []
    for seq in range(1, count + 1):
        record = dict(calls[(seq - 1) % len(calls)])
        record.update(seq=seq, t=seq * 0.002)
        records.append(record)
    return dict(loaded[0].header), records


def test_live_board_works_only_on_what_is_new_in_a_long_session(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from ipamx_spy import infer, render

    header, records = _long_session(600)
    live = LiveBoard(header)
    for start in range(0, 500, 25):  # a busy session: a build every 25 records
        for record in records[start:start + 25]:
            live.on_record(record, None)
        live.build(start + 25)
    matched: list[int] = []
    verdicts: list[int] = []
    readings: list[int] = []
    real_match, real_verdict, real_read = infer._match_at, render.verdict, render.read

    def counted_match(text: str, offsets: Any, tokens: Any, index: int) -> Any:
        matched.append(index)
        return real_match(text, offsets, tokens, index)

    def counted_verdict(exchange: Any) -> Any:
        verdicts.append(exchange.seq)
        return real_verdict(exchange)

    def counted_read(exchange: Any) -> Any:
        readings.append(exchange.seq)
        return real_read(exchange)

    monkeypatch.setattr(infer, "_match_at", counted_match)
    monkeypatch.setattr(render, "verdict", counted_verdict)
    monkeypatch.setattr(render, "read", counted_read)
    unchanged = live.build(500)  # nothing new: nothing matched, judged or rendered again
    assert matched == [] and verdicts == [] and unchanged.changed == frozenset()
    assert unchanged.keep == len(unchanged.order)
    for record in records[500:]:
        live.on_record(record, None)
    built = live.build(600)
    # the new calls, and the decisions before them whose patterns could read on into them
    # (a long run of calls in one pattern's words), not the 500 before
    assert len(matched) <= 3 * 100
    assert set(verdicts) <= set(range(501, 601))  # the new rows' only
    assert readings == list(range(501, 601))  # once each, for the counts and the row
    assert built.keep >= unchanged.order.index("x480")  # the page changes only at its end
    assert {i for i in built.changed if i.startswith("x")} <= {f"x{n}" for n in range(480, 601)}
    trace = built.board.hosts[0].trace
    assert [e.seq for e in trace.exchanges] == list(range(1, 601))
    assert [i for i in built.order if i.startswith("x")] == [f"x{n}" for n in range(1, 601)]
    assert built.meta == view.meta_text(dataclasses.replace(built.board, failures=None))
    whole = rec.Recording(header=header, records=tuple(records),
                          exchanges=tuple(rec.Exchange.from_json(r) for r in records))
    assert list(trace.sections) == infer.sections(whole)  # what show and the exports infer

# -- the command line -----------------------------------------------------------------------


def test_web_command_refuses_a_missing_recording_and_a_bad_address() -> None:
    from typer.testing import CliRunner

    from ipamx_spy.cli import app

    runner = CliRunner()
    missing = runner.invoke(app, ["web", "/nonexistent/rec.jsonl"])
    assert missing.exit_code == 1 and "no such recording" in missing.output
    bad = runner.invoke(app, ["web", str(TALK), "--listen", "127.0.0.1:http"])
    assert bad.exit_code == 2 and "the port must be a number" in bad.output
    proxy = runner.invoke(app, ["proxy", "--help"])
    assert "--web, --web-listen [HOST:PORT]" in " ".join(proxy.output.split())


@pytest.mark.parametrize(("args", "address"), [
    (["--web"], "127.0.0.1:8500"),
    (["--web", "--quiet"], "127.0.0.1:8500"),
    (["--quiet", "--web"], "127.0.0.1:8500"),
    (["--web", "127.0.0.1:0"], "127.0.0.1:0"),
    (["--web=[::1]:0"], "[::1]:0"),
    (["--web-listen", ":0"], ":0"),
])
def test_proxy_web_takes_an_optional_address(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                             args: list[str], address: str) -> None:
    from typer.testing import CliRunner

    from ipamx_spy.cli import app
    from ipamx_spy.web import server

    asked: list[str] = []

    def refuse(text: str) -> tuple[str, int]:
        asked.append(text)
        raise server.ListenAddressError("refused by the test")

    monkeypatch.setattr(server, "parse_address", refuse)
    result = CliRunner().invoke(app, [
        "proxy", "--listen", str(tmp_path / "spy.sock"), "--control", str(tmp_path / "ctl"),
        "--no-record", "--state", "none", *args])
    assert result.exit_code == 2, result.output
    assert asked == [address]


def test_proxy_web_refuses_a_bad_address_and_leaves_option_values_alone(tmp_path: Path) -> None:
    import typer.main
    from typer.testing import CliRunner

    from ipamx_spy.cli import app
    from ipamx_spy.optional_values import fill_optional_values

    bad = CliRunner().invoke(app, [
        "proxy", "--listen", str(tmp_path / "spy.sock"), "--control", str(tmp_path / "ctl"),
        "--no-record", "--state", "none", "--web", "127.0.0.1:http"])
    assert bad.exit_code == 2 and "the port must be a number" in bad.output
    proxy = typer.main.get_command(app).commands["proxy"]  # type: ignore[attr-defined]
    fill = {"--web": "127.0.0.1:8500"}
    assert fill_optional_values(proxy, ["--name", "--web"], fill) == ["--name", "--web"]
    assert fill_optional_values(proxy, ["--", "--web"], fill) == ["--", "--web"]
    assert fill_optional_values(proxy, ["--web", "-q"], fill) == ["--web=127.0.0.1:8500", "-q"]


# -- requests still waiting for their answer ----------------------------------------------


def test_a_waiting_request_shows_as_a_pending_row_until_its_answer_replaces_it() -> None:
    from ipamx_spy.proxy import Pending

    loaded = rec.load(TALK)
    first = loaded.exchanges[0]
    index = next(i for i, r in enumerate(loaded.records) if r.get("seq") == first.seq
                 and r.get("type") == "exchange")
    now = [100.0]
    pending = {first.seq: Pending(seq=first.seq, conn=first.conn, endpoint=first.endpoint,
                                  started=95.5, t=first.t)}
    live = LiveBoard(dict(loaded.header), pending=lambda: tuple(pending.values()),
                     clock=lambda: now[0])
    for record in loaded.records[:index]:
        live.on_record(dict(record), None)
    before = live.version()
    built = live.snapshot()()
    row = built.html[f"x{first.seq}"]
    assert built.order[-1] == f"x{first.seq}"
    assert 'class="x pending"' in row and "waiting · 4 s so far" in row
    assert f"{first.endpoint}: waiting for the plugin" in row
    assert 'class="arrow resp' not in row
    now[0] = 101.0  # one more second: a new version, so the row counts up
    assert live.version() != before
    counting = live.snapshot()()
    assert "5 s so far" in counting.html[f"x{first.seq}"]
    assert counting.changed == {f"x{first.seq}"} and counting.keep == len(counting.order)
    del pending[first.seq]  # answered: the exchange's own row, same id, replaces it
    live.on_record(dict(loaded.records[index]), None)
    answered = live.snapshot()()
    assert "pending" not in answered.html[f"x{first.seq}"]
    assert 'class="arrow resp' in answered.html[f"x{first.seq}"]
    assert f"x{first.seq}" in answered.changed
    assert built.board.waiting and not live.build(index + 1).board.waiting


def test_proxy_web_shows_a_delayed_request_while_it_waits(tmp_path: Path) -> None:
    """A real proxy (built-in plugin) told to hold RequestPool 6 s: the page's feed holds
    the pending row while dockerd waits, then the answered row under the same id."""
    import re
    import subprocess
    import sys

    spy_sock, control = tmp_path / "spy.sock", tmp_path / "spy.ctl"
    process = subprocess.Popen(
        [sys.executable, "-m", "ipamx_spy", "proxy", "--listen", str(spy_sock),
         "--control", str(control), "--no-record", "--quiet", "--state", "none",
         "--fault", "IpamDriver.RequestPool:delay=6s", "--web", "127.0.0.1:0"],
        stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    try:
        url = ""
        for _ in range(100):  # bounded: the proxy prints the page's address at start
            found = re.search(r"http://\S+", process.stderr.readline())
            if found:
                url = found.group(0)
                break
        assert url, "the proxy printed no web view address"
        body = (b'{"AddressSpace":"local","Pool":"","SubPool":"","Options":{},"V6":false}')
        request = (b"POST /IpamDriver.RequestPool HTTP/1.1\r\nHost: \r\n"
                   b"Content-Type: application/json\r\n"
                   b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)

        async def main() -> tuple[list[str], list[str], bytes]:
            async with aiohttp.ClientSession() as session:
                feed = states(url, session)
                assert (await anext(feed))["order"] == []
                reader, writer = await asyncio.open_unix_connection(str(spy_sock))
                writer.write(request)
                answer = asyncio.ensure_future(reader.readuntil(b"\r\n\r\n"))
                waiting: list[str] = []
                while not waiting:
                    state = await anext(feed)
                    waiting = [h for h in state["items"].values() if "x pending" in h]
                assert not answer.done()  # dockerd is still waiting when the row shows
                answered: list[str] = []
                while not answered:
                    state = await anext(feed)
                    answered = [h for i, h in state["items"].items()
                                if i == "x1" and "pending" not in h]
                head = await answer
                writer.close()
                await feed.aclose()
                return waiting, answered, head

        waiting, answered, head = asyncio.run(asyncio.wait_for(main(), timeout=60))
        server_pid = listener_pid(int(url.split(":")[2].split("/")[0]))
        assert server_pid != process.pid  # the page has a process of its own ...
        assert parent_pid(server_pid) == process.pid  # ... the proxy's child
        assert 'id="x1"' in waiting[0] and "IpamDriver.RequestPool" in waiting[0]
        assert "200 OK" in answered[0] and head.startswith(b"HTTP/1.1 200")
    finally:
        process.terminate()
        process.wait(30)


def listener_pid(port: int) -> int:
    """The process holding the listening TCP socket on 127.0.0.1:``port`` (from /proc)."""
    inode = ""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1] == f"0100007F:{port:04X}" and fields[3] == "0A":
            inode = fields[9]
    assert inode, f"nothing listens on port {port}"
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        with contextlib.suppress(OSError):
            if any(os.readlink(fd) == f"socket:[{inode}]" for fd in fd_dir.iterdir()):
                return int(fd_dir.parent.name)
    raise AssertionError(f"no process holds socket {inode}")


def parent_pid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_detached_page_serves_the_records_it_is_handed_and_its_loss_is_not_fatal() -> None:
    """The proxy's side of ``--web``: records and pending requests go over the pipe to the
    page's process; when that process dies, the sink says so once and goes on."""
    import signal

    from ipamx_spy.proxy import Pending
    from ipamx_spy.web.detached import DetachedWeb

    loaded = rec.load(TALK)
    errors: list[str] = []
    sock = server.bind("127.0.0.1", 0)
    token = server.new_token()
    web = DetachedWeb(dict(loaded.header), sock, token, validate=True, slow_ms=1000.0,
                      on_error=errors.append, nice=0)
    pending = {99: Pending(seq=99, conn=7, endpoint="IpamDriver.RequestPool", started=0.0,
                           t=1.0)}

    async def main() -> list[str]:
        follower = asyncio.get_running_loop().create_task(
            web.follow_pending(lambda: pending))
        async with aiohttp.ClientSession() as session:
            feed = states(web.url, session)
            for record in loaded.records:
                web.on_record(dict(record), None)
            seen: list[str] = []
            while len([i for i in seen if i.startswith("x")]) < len(loaded.exchanges) + 1:
                seen = (await anext(feed))["order"]
            await feed.aclose()
        follower.cancel()
        with pytest.raises(asyncio.CancelledError):
            await follower
        return seen

    try:
        seen = asyncio.run(asyncio.wait_for(main(), timeout=60))
    finally:
        web.close()
    assert seen == [i.id for i in view.items(board(TALK))] + ["x99"]
    assert not web._process.is_alive() and errors == []

    lost = DetachedWeb(dict(loaded.header), server.bind("127.0.0.1", 0), token, validate=False,
                       slow_ms=1000.0, on_error=errors.append, nice=0)
    try:
        os.kill(lost._process.pid, signal.SIGKILL)  # the page's process dies
        lost._process.join(10)
        for record in loaded.records:  # the proxy's side neither raises nor blocks
            lost.on_record(dict(record), None)
        assert errors == ["the web view's process is gone; the proxy goes on"]
    finally:
        lost.close()
