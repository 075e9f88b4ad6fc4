"""End-to-end in a real browser: Debian's Chromium driven by Playwright, against the app on a free port.

Uploads a CSV, sees the segment table and a plot, the cluster map, opens a customer's card by its link (also the
link saved before the lookup page was split), and the Campaigns page. A screenshot is saved
to tests/artifacts/ when a step fails. Skipped (with the reason) where Chromium or Playwright is missing.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = ROOT / "tests" / "artifacts"
pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (apt-get install chromium); .ci/run installs it")
    pytest.importorskip("playwright.sync_api")
    port = _free_port()
    env = os.environ | {"SEGMENTS_WORKSPACE": str(tmp_path_factory.mktemp("ws")), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(ROOT / "streamlit_app.py"),
                             "--server.port", str(port), "--server.headless", "true",
                             "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.5)
    else:
        proc.kill()
        pytest.fail("streamlit did not start: " + proc.stdout.read().decode()[-2000:])
    yield url
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        pg = browser.new_page(viewport={"width": 1400, "height": 1000})
        pg.set_default_timeout(60_000)
        yield pg
        browser.close()


def _nav(page, label: str) -> None:
    page.get_by_role("link", name=label).first.click()


def test_upload_segments_clusters_customer_campaigns(page, server, tmp_path):
    from pipeline.ingest import generate_raw

    try:
        csv = tmp_path / "shop.csv"
        generate_raw(n_customers=400, seed=3).to_csv(csv, index=False)
        page.goto(f"{server}/?ws=browser")
        page.get_by_text("Upload a file").first.wait_for()
        page.locator("input[type=file]").set_input_files(str(csv))
        page.get_by_text("Loaded 'shop.csv'").wait_for()
        # RFM: the segment table and the treemap
        _nav(page, "RFM segments")
        page.get_by_text("Customers per segment").first.wait_for()
        page.locator(".js-plotly-plot").first.wait_for()
        page.get_by_role("tab", name="Customer list").click()
        page.get_by_text("customers, revenue").first.wait_for()
        # Clusters: the 2-D map renders with its profile table
        _nav(page, "Clusters")
        page.get_by_text("Group profiles").first.wait_for(timeout=120_000)
        assert page.locator(".js-plotly-plot").count() >= 1
        # Customer: one customer's card with churn risk and a coupon, from a ?customer= link
        page.goto(f"{server}/customer?ws=browser&customer=10001")
        page.get_by_text("Churn risk").first.wait_for(timeout=120_000)
        page.get_by_text("Coupon:").first.wait_for()
        # a link saved before the split (/lookup) lands on the same card
        page.goto(f"{server}/lookup?ws=browser&customer=10001")
        page.wait_for_url(re.compile(r"/customer\?.*customer=10001"))
        page.get_by_text("Churn risk").first.wait_for(timeout=120_000)
        # Campaigns: a campaign list for all customers, with its download
        _nav(page, "Campaigns")
        page.get_by_role("button", name="Build campaign list").click()
        page.get_by_text("Download CSV").first.wait_for(timeout=120_000)
        assert page.get_by_text("Traceback").count() == 0
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "e2e_failure.png"), full_page=True)
        raise


def test_reload_and_plain_address_keep_the_work_another_browser_starts_fresh(page, server):
    """Load the sample, set a snapshot date, reload: the RFM page comes back as it was; the plain address in the
    same browser reopens the workspace (cookie); a new browser context gets an empty private workspace."""
    try:
        page.goto(server)
        page.get_by_role("button", name=re.compile("Load Synthetic")).click()
        page.get_by_text("Loaded").first.wait_for(timeout=120_000)
        ws_id = re.search(r"[?&]ws=([A-Za-z0-9_-]+)", page.url).group(1)
        _nav(page, "RFM segments")
        page.get_by_text("What each segment means and what to do").first.wait_for(timeout=120_000)
        page.reload()                                                   # a reload: the same workspace and data
        page.get_by_text("What each segment means and what to do").first.wait_for(timeout=120_000)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "reload_rfm.png"), full_page=True)
        page.goto(server)                                               # the plain address, same browser
        page.get_by_text(f"Workspace {ws_id}").first.wait_for(timeout=60_000)
        assert f"ws={ws_id}" in page.url
        other = page.context.browser.new_context().new_page()           # another browser: no cookie
        other.goto(server)
        other.get_by_text("No saved datasets yet").first.wait_for(timeout=60_000)
        assert f"ws={ws_id}" not in other.url
        other.context.close()
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "reload_failure.png"), full_page=True)
        raise


def test_second_upload_then_apply_keeps_it_current_and_sidebar_lists_both(page, server, tmp_path):
    """Upload A, upload B, press Apply: B stays the current dataset (it used to snap back to A and swallow the
    click) and the sidebar lists both right after each upload."""
    from playwright.sync_api import expect

    from real_exports import basket_log, superstore

    try:
        files = []
        for make in (superstore, basket_log):
            name, data = make()
            (tmp_path / name).write_bytes(data)
            files.append(tmp_path / name)
        page.goto(f"{server}/?ws=browser2")
        page.get_by_text("Upload a file").first.wait_for()
        picker = page.get_by_test_id("stSidebar").get_by_role("combobox", name="Saved datasets")
        page.locator("input[type=file]").set_input_files(str(files[0]))
        page.get_by_text("Loaded 'superstore.csv'").wait_for()
        expect(picker).to_have_value(re.compile("superstore.csv"))          # listed at once, no extra click
        page.locator("input[type=file]").set_input_files(str(files[1]))
        page.get_by_text("Loaded 'Groceries_dataset.csv'").wait_for()
        expect(picker).to_have_value(re.compile("Groceries_dataset.csv"))
        page.get_by_role("button", name="Apply mapping and clean").click()
        page.get_by_text("Loaded 'Groceries_dataset.csv'").wait_for()
        page.get_by_text("Current dataset: Groceries_dataset.csv").wait_for()
        page.wait_for_timeout(1500)                                           # any snap-back rerun would land now
        expect(page.get_by_text("Current dataset: Groceries_dataset.csv")).to_be_visible()
        expect(picker).to_have_value(re.compile("Groceries_dataset.csv"))
        picker.click()                                                      # the picker lists both datasets
        expect(page.get_by_role("option", name=re.compile("superstore.csv"))).to_be_visible()
        expect(page.get_by_role("option", name=re.compile("Groceries_dataset.csv"))).to_be_visible()
        assert page.get_by_text("Traceback").count() == 0
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "e2e_second_upload_failure.png"), full_page=True)
        raise
