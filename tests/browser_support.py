"""Real-browser fixtures (a pytest plugin, see conftest.py): the app on a free port with its own workspace folder,
and Debian's Chromium driven by Playwright at 1440×900.

``server`` is module-scoped (one Streamlit process per test file), and so is the Chromium process; ``page`` is a
fresh browser context per test (its own cookies, storage and cache: to the app, a new browser). Where Chromium
or Playwright is missing the tests skip saying what to install (fail under ``CI=true``). The server's output goes to
a log file whose tail is shown when it does not start. Screenshots go to :data:`ARTIFACTS` (git-ignored).
"""
from __future__ import annotations

import os
import shutil
import hashlib
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, require_module, unavailable
from pipeline.store import Workspace

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "tests" / "artifacts"
VIEWPORT = {"width": 1440, "height": 900}
WORKSPACE_ROOTS: dict[str, Path] = {}    # server URL -> its workspace folder (SEGMENTS_WORKSPACE)
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory, request):
    """URL of the app (streamlit_app.py) started for this test module, on an empty workspace (with the module's
    ``STREAMLIT_ARGS``, if any, added to ``streamlit run``)."""
    if not Path(CHROMIUM).exists():
        unavailable("Debian's chromium is not installed (apt-get install chromium); .ci/run installs it")
    require_module("playwright.sync_api", "Playwright is not installed (pip install -r requirements-dev.txt)")
    port = free_port()
    folder = tmp_path_factory.mktemp("app")
    env = os.environ | {"SEGMENTS_WORKSPACE": str(folder / "ws"), "TF_CPP_MIN_LOG_LEVEL": "2"}
    log = folder / "streamlit.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "scorer_support.py"),   # Streamlit, fits shared
                                 "run", str(ROOT / "streamlit_app.py"),
                                 "--server.port", str(port), "--server.headless", "true",
                                 "--browser.gatherUsageStats", "false", *getattr(request.module, "STREAMLIT_ARGS", [])],
                                cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT)
    for _ in range(240):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("streamlit did not start: " + log.read_text(errors="replace")[-2000:])
    url = f"http://127.0.0.1:{port}"
    WORKSPACE_ROOTS[url] = folder / "ws"
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


def workspace_id(server: str, name: str) -> str:
    """The id of the workspace a test calls ``name`` on ``server``, made on first use: the app opens only an
    existing workspace, by its 32-hex-digit id (``?ws=<id>``), never one named in the address."""
    ws_id = hashlib.sha256(name.encode()).hexdigest()[:32]
    Workspace(ws_id, WORKSPACE_ROOTS[server])
    return ws_id


@pytest.fixture(scope="module")
def chromium(server):
    """Headless Chromium started once for the test module (each test gets its own context: see :func:`page`)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(chromium):
    """A page at 1440×900 (60 s default timeout) in a new browser context (no cookie or storage of another test),
    closed after the test."""
    context = chromium.new_context(viewport=VIEWPORT)
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()


#: JavaScript, true when the app is idle: connected, no script run going on, nothing stale, loading or spinning
IDLE = """(() => {
  const app = document.querySelector('[data-testid=stApp]');
  return !!app && app.getAttribute('data-test-script-state') === 'notRunning'
         && app.getAttribute('data-test-connection-state') === 'CONNECTED'
         && !document.querySelector('[data-testid=stSkeleton], [data-stale=true], [data-testid=stSpinner]');
})()"""

#: true once the app has been idle and the main block's layout unchanged for ``quiet`` ms without a break (the
#: clock starts at the call, so a rerun that the last action asked for and that starts within ``quiet`` is waited for)
_QUIET = """(quiet) => {
  const main = document.querySelector('[data-testid=stMainBlockContainer]');
  const shape = main ? [main.scrollWidth, main.scrollHeight, main.getElementsByTagName('*').length].join() : '';
  const now = performance.now(), w = (window.__settle ??= {since: now, shape: null});
  if (!(IDLE) || shape !== w.shape) { w.since = now; w.shape = shape; return false; }
  return now - w.since >= quiet;
}""".replace("IDLE", IDLE)


def settled(page, timeout: float = 60_000, quiet: float = 250) -> None:
    """Wait until the script run has finished and every element has drawn: the app connected and not running (its
    own run-state attribute, which Streamlit sets at once, unlike the "Running..." widget shown after 0.5 s), no
    spinner, skeleton or stale element, and the layout unchanged, all for ``quiet`` ms in a row. Callers first wait
    for what their action shows (a text, an address) when the rerun it starts could come later than that."""
    page.evaluate("() => { window.__settle = {since: performance.now(), shape: null}; }")
    page.wait_for_function(_QUIET, arg=quiet, timeout=timeout, polling="raf")


def screenshot(page, name: str) -> None:
    """tests/artifacts/<name>.png of the whole page (the app scrolls inside its main block: the window grows to all
    of it for the picture, then back); a page showing a traceback fails the test."""
    settled(page)
    ARTIFACTS.mkdir(exist_ok=True)
    size = page.viewport_size
    tall = page.evaluate("document.querySelector('[data-testid=stMainBlockContainer]').scrollHeight + 100")
    page.set_viewport_size({"width": size["width"], "height": min(max(tall, size["height"]), 8000)})
    settled(page, quiet=150)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    page.set_viewport_size(size)
    assert page.get_by_text("Traceback").count() == 0, name
