"""The web view in a real browser: Playwright driving Debian's Chromium headless.

``ipamx-spy web`` serves a recording; ``ipamx-spy proxy --web`` serves the running session
while the real dockerd (tests/docker_env.py) runs the talk's docker commands through it. The
page must refuse a visitor without the token, grow the matching arrows in order with the right
sentences, filter, and show the bodies on click. Without Chromium or Playwright these tests
are skipped with the reason, unless IPAMX_SPY_REQUIRE_TOOLS=1 (CI), where they fail.

With IPAMX_SPY_UPDATE_SCREENSHOTS=1 the live test also writes the README's screenshots
(docs/images/web-live.png and web-presenter.png).
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docker_env import HOST, PLUGIN_DIR, Docker, SpyProcess, spawn_spy

from ipamx_spy import recording, render

HERE = Path(__file__).parent
TALK = HERE.parent / "recordings" / "talk.jsonl"
IMAGES = HERE.parent / "docs" / "images"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
URL = re.compile(r"http://127\.0\.0\.1:\d+/\?token=[\w-]+")
WAIT_MS = 15_000


def _unavailable(reason: str) -> None:
    if os.environ.get("IPAMX_SPY_REQUIRE_TOOLS") == "1":
        pytest.fail(reason + " (IPAMX_SPY_REQUIRE_TOOLS=1)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = os.environ.get("IPAMX_SPY_CHROMIUM") or shutil.which("chromium") or \
        shutil.which("chromium-browser")
    if executable is None:
        _unavailable("no chromium on PATH (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=FLAGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    # the page forbids eval (its CSP); Playwright evaluates its wait predicates with eval
    context = browser.new_context(viewport={"width": 1600, "height": 1000}, bypass_csp=True)
    try:
        yield context.new_page()
    finally:
        context.close()


def read_url(stream: Any, process: subprocess.Popen[str], timeout: float = 60) -> tuple[str, str]:
    """Read the raw output until the web view's address shows (bounded); returns it and the
    text read. Reads the file descriptor itself: nothing stays in a buffer select cannot see."""
    seen = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([stream], [], [], 0.2)
        if ready:
            chunk = os.read(stream.fileno(), 65536)
            seen += chunk
            found = URL.search(seen.decode("utf-8", "replace"))
            if found:
                return found.group(0), seen.decode("utf-8", "replace")
            if not chunk:
                break
        if process.poll() is not None:
            break
    raise AssertionError(f"no web view address in the output:\n{seen.decode(errors='replace')}")


def rows(page: Any) -> list[dict[str, str]]:
    """The visible exchange rows in page order: id, endpoint label, answer label, sentence."""
    return page.eval_on_selector_all(".x:not(.hidden)", """els => els.map(el => ({
        id: el.id, ep: el.querySelector('.arrow.req .lbl').textContent,
        answer: (el.querySelector('.arrow.resp .lbl') || {textContent: ''}).textContent,
        sentence: el.querySelector('.ann').textContent}))""")


def wait_rows(page: Any, count: int) -> list[dict[str, str]]:
    page.wait_for_function(f"document.querySelectorAll('.x').length >= {count}",
                           timeout=WAIT_MS)
    return rows(page)


def filter_by(page: Any, text: str) -> list[str]:
    """The rows shown once the page applied this filter (not an earlier one that an update
    ran again meanwhile)."""
    before = page.evaluate("Number(document.documentElement.dataset.filtered || 0)")
    page.fill("#filter", text)
    page.wait_for_function(
        """([before, text]) => { const d = document.documentElement.dataset;
                                 return Number(d.filtered || 0) > before
                                        && d.filteredText === text; }""",
        arg=[before, text.strip()], timeout=WAIT_MS)
    return [row["id"] for row in rows(page)]


# -- recordings on disk ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def web_of_talk() -> Iterator[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "ipamx_spy", "web", str(TALK), "--listen", "127.0.0.1:0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        url, _ = read_url(process.stderr, process)
        yield url
    finally:
        process.terminate()
        process.communicate(timeout=30)


def test_recording_page_needs_the_token(page: Any, web_of_talk: str) -> None:
    refused = page.goto(web_of_talk.split("?")[0])
    assert refused.status == 403 and "token" in page.content()
    loaded = page.goto(web_of_talk)
    assert loaded.status == 200
    page.wait_for_selector("html[data-ready='1']")
    assert page.title() == "ipamx-spy: talk.jsonl"


def test_recording_page_filters_and_opens_bodies(page: Any, web_of_talk: str) -> None:
    page.goto(web_of_talk)
    page.wait_for_selector("html[data-updates='1']")  # the feed's first state arrived
    talk = recording.load(TALK)
    shown = rows(page)
    assert [r["ep"] for r in shown] == [e.endpoint for e in talk.exchanges]
    assert [r["sentence"] for r in shown] == [render.annotation(e) for e in talk.exchanges]
    assert filter_by(page, "RequestAddress") == ["x5", "x6", "x7"]
    assert page.is_visible("#s2") and not page.is_visible("#s5")
    assert filter_by(page, "release ~n 9-") == ["x9", "x10", "x11"]
    assert filter_by(page, "release |") == ["x9", "x10", "x11"]  # a bad one keeps the last
    assert "needs a test on both sides" in page.inner_text("#filter-error")
    assert filter_by(page, "") == [f"x{e.seq}" for e in talk.exchanges]
    assert not page.is_visible("#x6 .bodies")
    page.click("#x6 summary")
    page.wait_for_selector("#x6 .bodies", state="visible")
    bodies = page.inner_text("#x6 .bodies")
    assert '"Address": "10.4.4.21"' in bodies and '"Address": "10.4.4.21/24"' in bodies
    assert page.eval_on_selector("#x6 .json .k", "el => getComputedStyle(el).color") != \
        page.eval_on_selector("#x6 .json .s", "el => getComputedStyle(el).color")


def test_presenter_mode_and_themes(page: Any, web_of_talk: str) -> None:
    page.goto(web_of_talk)
    page.wait_for_selector("html[data-ready='1']")
    size = "() => parseFloat(getComputedStyle(document.querySelector('#x4 .ann')).fontSize)"
    normal = page.evaluate(size)
    page.click("#presenter")
    assert page.evaluate(size) >= 1.4 * normal
    background = "() => getComputedStyle(document.body).backgroundColor"
    light = page.evaluate(background)
    page.click("#theme")
    assert page.get_attribute("html", "data-theme") in {"dark", "light"}
    assert page.evaluate(background) != light


# -- the live page of a proxy in front of the real dockerd ------------------------------------

TALK_STEPS = [
    (("network", "create", "-d", "bridge", "--ipam-driver", "{plugin}", "--subnet",
      "10.4.4.0/24", "{net}"), 5),
    (("run", "-d", "--net={net}", "--ip", "10.4.4.21", "--name", "{net}-a", "bb:latest",
      "sleep", "600"), 6),
    (("run", "-d", "--net={net}", "--name", "{net}-b", "bb:latest", "sleep", "600"), 7),
    (("stop", "-t", "1", "{net}-a", "{net}-b"), 9),
    (("rm", "{net}-a", "{net}-b"), 9),
    (("network", "rm", "{net}"), 11),
]
TALK_SEQUENCE = [
    "Plugin.Activate", "IpamDriver.GetCapabilities", "IpamDriver.GetDefaultAddressSpaces",
    "IpamDriver.RequestPool", "IpamDriver.RequestAddress", "IpamDriver.RequestAddress",
    "IpamDriver.RequestAddress", "IpamDriver.ReleaseAddress", "IpamDriver.ReleaseAddress",
    "IpamDriver.ReleaseAddress", "IpamDriver.ReleasePool",
]  # 20.10's: one GetDefaultAddressSpaces, at activation


def talk_sequence(docker: Docker) -> list[str]:
    """TALK_SEQUENCE as ``docker``'s version sends it (26.1 asks the address spaces per
    create, 28.5 per create and again before the pool: see Docker.spaces_calls)."""
    spaces = TALK_SEQUENCE.index("IpamDriver.GetDefaultAddressSpaces")
    return (TALK_SEQUENCE[:spaces] + docker.spaces_calls(activation=True)
            + TALK_SEQUENCE[spaces + 1:])


def mark(control: Path, text: str) -> None:
    subprocess.run([sys.executable, "-m", "ipamx_spy", "mark", "--control", str(control), text],
                   check=True, capture_output=True, timeout=30)


HELD = "NetworkDriver.DiscoverNew"  # a call the talk never makes, held for the screenshots


def hold_a_request(socket: Path) -> Any:
    """A request the spy holds (``--fault HELD:delay``), sent from a thread: its row waits
    on the page until the spy stops (and answers it then)."""
    import socket as sockets
    import threading

    body = b'{"DiscoveryType":1,"DiscoveryData":{"Address":"10.4.4.99"}}'

    def ask() -> None:
        with sockets.socket(sockets.AF_UNIX) as client:
            client.settimeout(180)
            client.connect(str(socket))
            client.sendall(f"POST /{HELD} HTTP/1.1\r\nHost: \r\nContent-Type: "
                           f"application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                           .encode() + body)
            with contextlib.suppress(OSError):
                client.recv(65536)

    asking = threading.Thread(target=ask, name="a held request", daemon=True)
    asking.start()
    return asking


def live_spy(plugin: str, sockdir: Path) -> tuple[SpyProcess, str, Path]:
    socket = PLUGIN_DIR / f"{plugin}.sock"
    rec = sockdir / "live.jsonl"
    control = sockdir / "spy.ctl"
    spy = spawn_spy(["proxy", "--name", plugin, "--record", str(rec), "--compact",
                     "--control", str(control), "--state", "none", "--local-space",
                     "ipamx-local", "--global-space", "ipamx-global",
                     "--fault", f"{HELD}:delay=120s", "--web", "127.0.0.1:0"], socket, rec,
                    timeout=90)
    assert spy.process.stdout is not None
    url, seen = read_url(spy.process.stdout, spy.process)
    spy.output += seen
    return spy, url, control


def screenshots(page: Any, tmp_path: Path, row: str = "x6") -> list[Path]:
    """The whole page with ``row`` opened and the held request waiting at the end, and the
    newest rows in presenter mode."""
    page.evaluate("window.scrollTo(0, 0)")
    page.click(f"#{row} summary")
    page.wait_for_selector(f"#{row} .bodies", state="visible")
    normal = tmp_path / "web-live.png"
    page.screenshot(path=str(normal), full_page=True)
    page.click(f"#{row} summary")
    page.click("#presenter")
    page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
    presenter = tmp_path / "web-presenter.png"
    page.screenshot(path=str(presenter))
    return [normal, presenter]


@pytest.mark.docker
def test_live_page_grows_with_the_talk_commands(
    page: Any, dockerd: Docker, plugin_name: str, sockdir: Path, tmp_path: Path,
) -> None:
    net = f"{plugin_name}-mynet"
    sequence = talk_sequence(dockerd)
    extra = len(sequence) - len(TALK_SEQUENCE)  # rows before the pool beyond 20.10's
    spy, url, control = live_spy(plugin_name, sockdir)
    held = None
    try:
        assert page.goto(url.split("?")[0]).status == 403
        page.goto(url)
        page.wait_for_selector("html[data-updates='1']")
        assert rows(page) == []
        for args, count in TALK_STEPS:
            command = [a.format(plugin=plugin_name, net=net) for a in args]
            mark(control, "docker " + " ".join(command).replace(plugin_name, "ipamx"))
            dockerd.run(*command)
            shown = wait_rows(page, count + extra)
            assert [r["ep"] for r in shown] == sequence[:count + extra]
            assert [r["id"] for r in shown] == [f"x{n}" for n in range(1, count + extra + 1)]
        assert filter_by(page, "ReleaseAddress") == [f"x{n + extra}" for n in (8, 9, 10)]
        assert filter_by(page, "") == [f"x{n}" for n in range(1, len(sequence) + 1)]
        held = hold_a_request(PLUGIN_DIR / f"{plugin_name}.sock")
        waiting = f"#x{len(sequence) + 1}.pending"
        page.wait_for_selector(waiting, timeout=WAIT_MS)
        assert filter_by(page, "Discover")[-1] == f"x{len(sequence) + 1}"  # judged as it is
        assert filter_by(page, "ReleaseAddress") == [f"x{n + extra}" for n in (8, 9, 10)]
        filter_by(page, "")
        shots = screenshots(page, tmp_path, f"x{6 + extra}")
    finally:
        spy.stop()
        if held is not None:
            held.join(60)
    exchanges = [e for e in recording.load(sockdir / "live.jsonl").exchanges
                 if e.endpoint != HELD]
    shown = [r for r in rows(page) if r["ep"] != HELD]
    assert [r["sentence"] for r in shown] == [render.annotation(e) for e in exchanges]
    assert all(r["answer"].startswith("200 OK") for r in shown)
    assert "dockerd asks for exactly '10.4.4.21'" in shown[5 + extra]["sentence"]
    headings = page.eval_on_selector_all(".sec h2", "els => els.map(e => e.textContent)")
    assert any("docker run -d --net=" in h and "--ip 10.4.4.21" in h for h in headings)
    for shot in shots:
        data = shot.read_bytes()
        assert data.startswith(b"\x89PNG") and int.from_bytes(data[16:20], "big") == 1600
        if os.environ.get("IPAMX_SPY_UPDATE_SCREENSHOTS") == "1" and dockerd.daemon is HOST:
            IMAGES.mkdir(parents=True, exist_ok=True)
            shutil.copy(shot, IMAGES / shot.name)


# -- follow and pause, on a recording that grows ----------------------------------------------


def in_view(page: Any, element_id: str) -> bool:
    return bool(page.evaluate(
        """id => { const r = document.getElementById(id).getBoundingClientRect();
                   return r.bottom > 0 && r.top < window.innerHeight; }""", element_id))


def test_follow_keeps_the_newest_row_in_view_and_pause_holds_updates(
        browser: Any, tmp_path: Path) -> None:
    lines = TALK.read_text(encoding="utf-8").splitlines(keepends=True)
    exchange_lines = [n for n, line in enumerate(lines) if '"type":"exchange"' in line]
    growing = tmp_path / "growing.jsonl"
    growing.write_text("".join(lines[:exchange_lines[2] + 1]), encoding="utf-8")  # #1-#3

    def grow(upto: int) -> None:  # the recording as it is once exchange #upto is written
        with growing.open("a", encoding="utf-8") as out:
            done = growing.read_text(encoding="utf-8").count('"type":"exchange"')
            out.write("".join(lines[exchange_lines[done - 1] + 1:exchange_lines[upto - 1] + 1]))

    process = subprocess.Popen(
        [sys.executable, "-m", "ipamx_spy", "web", str(growing), "--listen", "127.0.0.1:0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # a short window, so that eleven rows do not fit and following has to scroll
    context = browser.new_context(viewport={"width": 1200, "height": 420}, bypass_csp=True)
    try:
        assert process.stderr is not None
        url, _ = read_url(process.stderr, process)
        page = context.new_page()
        page.goto(url)
        assert [r["id"] for r in wait_rows(page, 3)] == ["x1", "x2", "x3"]
        assert page.get_attribute("#follow", "aria-pressed") == "true"

        grow(6)  # following: the newest row is scrolled into view
        wait_rows(page, 6)
        page.wait_for_function("(() => { const r = document.getElementById('x6')"
                               ".getBoundingClientRect(); return r.bottom <= innerHeight "
                               "&& r.bottom > 0; })()", timeout=WAIT_MS)
        assert not in_view(page, "x1")

        page.click("#follow")  # not following: the page stays where the reader is
        assert page.get_attribute("#follow", "aria-pressed") == "false"
        page.evaluate("window.scrollTo(0, 0)")
        grow(8)
        wait_rows(page, 8)
        assert page.evaluate("window.scrollY") == 0 and not in_view(page, "x8")

        page.click("#pause")  # paused: new rows wait, and the button counts them
        assert page.get_attribute("#pause", "aria-pressed") == "true"
        grow(11)
        page.wait_for_function("document.getElementById('pause').textContent === "
                               "'paused · 3 new'", timeout=WAIT_MS)
        assert [r["id"] for r in rows(page)] == [f"x{n}" for n in range(1, 9)]

        page.click("#follow")  # following again (still paused: nothing new shows yet)
        assert len(rows(page)) == 8
        # Each held row notes the page's update count when it enters the document (observer
        # callbacks run right after the update that inserted it), so merging is seen as it
        # happens: all three in the one update the resume applies, not an update each.
        before = int(page.get_attribute("html", "data-updates") or 0)
        page.evaluate("""() => { window.enteredAt = {};
            new MutationObserver(() => { for (const id of ["x9", "x10", "x11"]) {
                if (!(id in window.enteredAt) && document.getElementById(id)) {
                    window.enteredAt[id] = Number(document.documentElement.dataset.updates);
                } } }).observe(document.getElementById("items"), {childList: true}); }""")
        page.click("#pause")  # resumed: the held rows come in, and follow shows the last
        assert page.text_content("#pause") == "pause"
        assert [r["id"] for r in wait_rows(page, 11)] == [f"x{n}" for n in range(1, 12)]
        assert page.evaluate("window.enteredAt") == {"x9": before + 1, "x10": before + 1,
                                                      "x11": before + 1}
        page.wait_for_function("(() => { const r = document.getElementById('x11')"
                               ".getBoundingClientRect(); return r.bottom <= innerHeight "
                               "&& r.bottom > 0; })()", timeout=WAIT_MS)
    finally:
        context.close()
        process.terminate()
        process.communicate(timeout=30)


# -- a request waiting for its answer -----------------------------------------------------------


def test_a_delayed_request_shows_as_a_pending_arrow_that_completes(
        page: Any, tmp_path: Path) -> None:
    import socket as sockets
    import threading

    spy_sock = tmp_path / "spy.sock"
    process = subprocess.Popen(
        [sys.executable, "-m", "ipamx_spy", "proxy", "--listen", str(spy_sock),
         "--control", str(tmp_path / "spy.ctl"), "--no-record", "--quiet", "--state", "none",
         "--fault", "IpamDriver.RequestPool:delay=8s", "--web", "127.0.0.1:0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    answers: list[bytes] = []
    body = b'{"AddressSpace":"local","Pool":"","SubPool":"","Options":{},"V6":false}'

    def ask() -> None:
        with sockets.socket(sockets.AF_UNIX) as client:
            client.settimeout(30)
            client.connect(str(spy_sock))
            client.sendall(b"POST /IpamDriver.RequestPool HTTP/1.1\r\nHost: \r\n"
                           b"Content-Type: application/json\r\nContent-Length: "
                           + str(len(body)).encode() + b"\r\n\r\n" + body)
            answers.append(client.recv(65536))

    try:
        assert process.stderr is not None
        url, _ = read_url(process.stderr, process)
        page.goto(url)
        page.wait_for_selector("html[data-updates='1']")
        asking = threading.Thread(target=ask, name="dockerd's request")
        asking.start()
        page.wait_for_selector("#x1.pending", timeout=WAIT_MS)
        assert not answers  # the arrow shows while the request still waits
        assert page.text_content("#x1 .arrow.req .lbl") == "IpamDriver.RequestPool"
        assert page.query_selector("#x1 .arrow.resp") is None
        assert "waiting" in page.text_content("#x1 .arrow.wait .lbl")
        page.wait_for_selector("#x1:not(.pending) .arrow.resp", timeout=WAIT_MS)
        asking.join(30)
        assert answers and answers[0].startswith(b"HTTP/1.1 200")
        assert page.text_content("#x1 .arrow.resp .lbl").startswith("200 OK")
        assert len(rows(page)) == 1
    finally:
        process.terminate()
        process.communicate(timeout=30)


# -- a burst of exchanges back to back ------------------------------------------------------

BURST = 400


def test_a_burst_of_back_to_back_exchanges_reaches_the_page_in_order(
        page: Any, tmp_path: Path) -> None:
    """``proxy --web`` in front of the built-in plugin gets BURST requests back to back on
    one connection while the page is open: the last one's row appears, after every other in
    order. (How soon is bench/web_view.py's to measure: no wall time is asserted here; the
    wait is bounded and generous, as everywhere in these tests.)"""
    import socket as sockets

    spy_sock = tmp_path / "spy.sock"
    process = subprocess.Popen(
        [sys.executable, "-m", "ipamx_spy", "proxy", "--listen", str(spy_sock),
         "--control", str(tmp_path / "spy.ctl"), "--no-record", "--quiet", "--state", "none",
         "--web", "127.0.0.1:0"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    request = (b"POST /IpamDriver.GetCapabilities HTTP/1.1\r\nHost: \r\n"
               b"Content-Length: 0\r\n\r\n")
    try:
        assert process.stderr is not None
        url, _ = read_url(process.stderr, process)
        page.goto(url)
        page.wait_for_selector("html[data-updates='1']")
        with sockets.socket(sockets.AF_UNIX) as client:
            client.settimeout(30)
            client.connect(str(spy_sock))
            answered = b""
            for sent in range(1, BURST + 1):  # back to back: the next once answered
                client.sendall(request)
                while answered.count(b"HTTP/1.1 200") < sent:
                    answered += client.recv(65536)
        page.wait_for_selector(f"#x{BURST}", timeout=60_000)
        shown = rows(page)
        assert [r["id"] for r in shown] == [f"x{n}" for n in range(1, BURST + 1)]
        assert {r["ep"] for r in shown} == {"IpamDriver.GetCapabilities"}
        assert all(r["answer"].startswith("200 OK") for r in shown)
    finally:
        process.terminate()
        process.communicate(timeout=30)
