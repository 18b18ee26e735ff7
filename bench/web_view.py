"""What the live web view costs dockerd, and how soon an exchange reaches the page.

Two proxies in front of the built-in plugin (``--no-record --quiet``): the baseline without a
web view, and one with ``--web`` (the page served by a process of its own, fed over a pipe)
and a page connected to its event stream. Each gets N
sequential ``IpamDriver.GetCapabilities`` requests on one keep-alive connection, in interleaved
rounds; the answer latency is compared as a ratio of medians. For the web proxy, the time from
sending a request until the page's event stream holds its row is measured too (the issue asks
for "within a second").

    python bench/web_view.py [--requests 300] [--rounds 3] [--pause-ms 0] [--browser]

``--browser`` measures end to end instead of at the event stream: the page is opened in
headless Chromium (Playwright, ``/usr/bin/chromium``), and a row counts once it is in the
page's document (a MutationObserver notes the time, on the same clock as the sender).

``--builds N`` measures instead, in this process, what one update of the live page costs in a
long busy session: 100 new exchanges arriving after N-100 are on the page (the corpus's
unmarked calls over and over, back to back). The incremental board (``LiveBoard.build``) is
compared with the whole-session rebuild the page did before (inference over every exchange,
rows of a warm memo, every verdict read for the line of facts), same records, same run.

On a loaded machine, many short rounds (``--requests 30 --rounds 30``) keep the load's swings
out of the ratio better than a few long ones.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp

REQUEST = (b"POST /IpamDriver.GetCapabilities HTTP/1.1\r\nHost: \r\n"
           b"User-Agent: Go-http-client/1.1\r\nContent-Length: 0\r\n"
           b"Accept: application/vnd.docker.plugins.v1.2+json\r\n\r\n")


def start(directory: Path, name: str, web: bool) -> tuple[subprocess.Popen[str], str | None]:
    args = [sys.executable, "-m", "ipamx_spy", "proxy", "--listen", str(directory / f"{name}.sock"),
            "--control", str(directory / f"{name}.ctl"), "--no-record", "--quiet",
            "--state", "none", "--no-validate"]
    if web:
        args += ["--web", "127.0.0.1:0"]
    process = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
    assert process.stderr is not None
    for _ in range(50):
        line = process.stderr.readline()
        found = re.search(r"http://\S+", line)
        if found:
            return process, found.group(0)
        if "control socket" in line and not web:
            return process, None
    raise RuntimeError("the proxy did not start")


async def states(response: aiohttp.ClientResponse) -> AsyncIterator[dict[str, Any]]:
    """The stream's events (split here: one event may be larger than aiohttp's line limit)."""
    pending = b""
    async for chunk in response.content.iter_any():
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            if line.startswith(b"data: "):
                yield json.loads(line[6:])


async def answer(reader: asyncio.StreamReader) -> None:
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(re.search(rb"Content-Length: (\d+)", head).group(1))  # type: ignore[union-attr]
    await reader.readexactly(length)


class Page:
    """The page's side: when each row (by number) first showed in the event stream."""

    def __init__(self) -> None:
        self.sent: dict[int, float] = {}
        self.lags: list[float] = []
        self.rows = 0


async def latencies(socket: Path, count: int, page: Page | None,
                    pause_s: float = 0.0) -> list[float]:
    """Answer latencies (ms) of ``count`` requests, ``pause_s`` apart (0: back to back);
    notes their send times for ``page``."""
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_unix_connection(str(socket))
    out = []
    for _ in range(count):
        started = loop.time()
        if page is not None:
            page.sent[len(page.sent) + 1] = started
        writer.write(REQUEST)
        await answer(reader)
        out.append((loop.time() - started) * 1000)
        if pause_s:
            await asyncio.sleep(pause_s)
    writer.close()
    return out


async def watch(url: str, page: Page) -> None:
    loop = asyncio.get_running_loop()
    base, token = url.split("?")[0], url.split("token=")[1]
    async with aiohttp.ClientSession() as session, \
            session.get(base + "events", params={"token": token}) as response:
        order: list[str] = []
        async for state in states(response):
            now = loop.time()
            # the page's order as page.js keeps it (a full event, or what changed)
            order = (list(state["order"]) if state.get("full") or "tail" not in state
                     else order[:state["keep"]] + list(state["tail"]))
            rows = sum(1 for i in order if i.startswith("x"))
            page.lags += [(now - page.sent[n]) * 1000 for n in range(page.rows + 1, rows + 1)]
            page.rows = max(page.rows, rows)


OBSERVE = """() => {
  window.__seen = {};
  const note = () => {
    const now = performance.timeOrigin + performance.now();
    for (const el of document.querySelectorAll('#items > .x:not(.pending)')) {
      if (!(el.id in window.__seen)) { window.__seen[el.id] = now; }
    }
  };
  new MutationObserver(note).observe(document.getElementById('items'), {childList: true});
  note();
}"""


async def browse(url: str, page: Page, done: asyncio.Event) -> None:
    """The page in headless Chromium; when ``done``, collect when each row appeared."""
    from playwright.async_api import async_playwright

    loop = asyncio.get_running_loop()
    offset = time.time() - loop.time()  # the browser's clock is the epoch's
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox",
                                                        "--disable-gpu"])
        context = await browser.new_context(bypass_csp=True)
        tab = await context.new_page()
        await tab.goto(url)
        await tab.wait_for_selector("html[data-ready='1']")
        await tab.evaluate(OBSERVE)
        page.rows = -1  # ready
        await done.wait()
        for _ in range(600):  # let the page catch up (bounded: 60 s)
            seen: dict[str, float] = await tab.evaluate("window.__seen")
            if len(seen) >= len(page.sent):
                break
            await asyncio.sleep(0.1)
        for n, sent in page.sent.items():
            if f"x{n}" in seen:
                page.lags.append(seen[f"x{n}"] - (sent + offset) * 1000)
        page.rows = len(seen)
        await browser.close()


def cpu_ms(pid: int) -> float:
    """CPU time (user and system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def page_process(proxy: int) -> int:
    """The page's process: the child of the ``--web`` proxy that serves it."""
    children = Path(f"/proc/{proxy}/task/{proxy}/children").read_text().split()
    return int(children[0])


async def main(requests: int, rounds: int, pause_s: float, browser: bool = False) -> None:
    with tempfile.TemporaryDirectory(prefix="ipx-bw-", dir="/tmp") as name:
        directory = Path(name)
        plain, _ = start(directory, "plain", web=False)
        webbed, url = start(directory, "web", web=True)
        assert url is not None
        serving = page_process(webbed.pid)
        page = Page()
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        watcher = loop.create_task(browse(url, page, done) if browser else watch(url, page),
                                   name="page")
        while browser and page.rows != -1 and not watcher.done():  # the page is open
            await asyncio.sleep(0.05)
        base: list[float] = []
        with_web: list[float] = []
        try:
            spent = cpu_ms(serving)
            for _ in range(rounds):
                base += await latencies(directory / "plain.sock", requests, None, pause_s)
                with_web += await latencies(directory / "web.sock", requests, page, pause_s)
            done.set()
            if browser:
                await watcher
            for _ in range(3000):  # let the page catch up (bounded: 60 s)
                if page.rows >= len(page.sent):
                    break
                await asyncio.sleep(0.02)
            spent = cpu_ms(serving) - spent
        finally:
            watcher.cancel()
            for process in (plain, webbed):
                process.terminate()
                process.wait(30)
    b, w = statistics.median(base), statistics.median(with_web)
    spacing = f"{pause_s * 1000:.0f} ms apart" if pause_s else "back to back"
    print(f"{requests} requests {spacing} x {rounds} interleaved rounds, Python "
          f"{sys.version.split()[0]}")
    print(f"answer latency, no web view:   median {b:.2f} ms")
    print(f"answer latency, --web + page:  median {w:.2f} ms  ({w / b:.2f}x the baseline)")
    lags = sorted(page.lags)
    where = "in Chromium's document" if browser else "in the event stream"
    print(f"request sent -> row {where} ({len(lags)} of {len(page.sent)} rows): median "
          f"{statistics.median(lags):.1f} ms, p99 {lags[int(len(lags) * 0.99) - 1]:.1f} ms, "
          f"max {lags[-1]:.1f} ms")
    print(f"the page's process: {spent:.0f} ms of CPU for {len(page.sent)} rows "
          f"({spent / len(page.sent):.2f} ms a row)")


def builds(count: int, repeat: int = 5) -> None:
    from ipamx_spy import recording
    from ipamx_spy.export.trace import build_trace
    from ipamx_spy.web.board import LiveBoard
    from ipamx_spy.web.view import Memo, board_of, items, meta_text

    corpus = Path(__file__).parent.parent / "recordings"
    loaded = [recording.load(corpus / f"{name}.jsonl")
              for name in ("dynamic-pools", "errors", "netdriver-lifecycle")]
    calls = [r for one in loaded for r in one.records if r.get("type") == "exchange"]
    header = dict(loaded[0].header)
    records = [{**calls[n % len(calls)], "seq": n + 1, "t": (n + 1) * 0.002}
               for n in range(count)]
    before = count - 100

    def whole(upto: int, memo: Memo) -> None:
        exchanges = tuple(recording.Exchange.from_json(r) for r in records[:upto])
        trace = build_trace(recording.Recording(header=header, records=tuple(records[:upto]),
                                                exchanges=exchanges), validate=False)
        board = board_of([("", trace)])
        items(board, memo=memo)
        meta_text(board)

    incremental, rebuilt = [], []
    for _ in range(repeat):
        live = LiveBoard(header, validate=False)
        for record in records:
            live.on_record(record, None)
        live.build(before)
        began = time.perf_counter()
        live.build(count)  # its line of facts comes with it
        incremental.append(time.perf_counter() - began)
        memo: Memo = {}
        whole(before, memo)
        began = time.perf_counter()
        whole(count, memo)
        rebuilt.append(time.perf_counter() - began)
    i, r = statistics.median(incremental) * 1000, statistics.median(rebuilt) * 1000
    print(f"one update of the page: 100 new exchanges after {before}, median of {repeat}, "
          f"Python {sys.version.split()[0]}")
    print(f"whole-session rebuild (before): {r:.0f} ms")
    print(f"incremental LiveBoard.build:    {i:.0f} ms  ({i / r:.2f}x the rebuild)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pause-ms", type=float, default=0.0,
                        help="pause between requests (a talk: a few hundred ms)")
    parser.add_argument("--browser", action="store_true",
                        help="end to end: time rows in the page's document in Chromium")
    parser.add_argument("--builds", type=int, default=0, metavar="N",
                        help="measure one update of the page in a session of N exchanges")
    options = parser.parse_args()
    if options.builds:
        builds(max(options.builds, 200))
        raise SystemExit(0)
    asyncio.run(main(options.requests, options.rounds, options.pause_ms / 1000,
                     options.browser))
