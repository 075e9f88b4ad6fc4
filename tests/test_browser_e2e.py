"""End-to-end in a real browser: Debian's Chromium driven by Playwright, against the app on a free port.

Walks a marketer's path with a real export (upload → Overview → RFM segments, with the segment table, the treemap
and the customer list → Cohorts & movement → a campaign with a control group → the cluster map → a customer's card
by its link, also the link saved before the lookup page was split), saving a screenshot of each page as
tests/artifacts/walk_*.png and checking that no tile, page link or date is cut off; a reload keeps the
snapshot date and the analysis period, the plain address reopens the workspace, another browser starts fresh; a
second upload then Apply stays current. A screenshot is saved to tests/artifacts/ when a step fails (the folder is
git-ignored). Skipped (with the reason) where Chromium or Playwright is missing.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from browser_support import ARTIFACTS, screenshot, settled, workspace_id
from conftest import dataset

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _nav(page, label: str) -> None:
    page.get_by_role("link", name=label).first.click()


def _date_in(field):
    """The date shown by a Streamlit date input (a group of year/month/day spin buttons)."""
    from datetime import date

    part = {k: int(field.get_by_role("spinbutton", name=re.compile(f"^{k},")).get_attribute("aria-valuenow"))
            for k in ("year", "month", "day")}
    return date(**part)


def _type_date(field, day) -> None:
    """Type a date into a Streamlit date input as a user does: digits into the year box (the field moves on to the
    month and day by itself), then click the page's title: the input sends its date when it loses focus."""
    field.get_by_role("spinbutton", name=re.compile("^year,")).click()
    field.page.keyboard.type(f"{day:%Y%m%d}")
    field.page.get_by_role("heading", level=1).first.click()


def test_reload_and_plain_address_keep_the_work_another_browser_starts_fresh(page, server):
    """Load the sample, pick a snapshot date and the analysis period's start, reload: the RFM page comes back with
    both; the plain address in the same browser reopens the workspace (cookie); a new browser context gets an empty
    private workspace."""
    from datetime import timedelta


    try:
        page.goto(server)
        page.get_by_role("button", name=re.compile("Load Synthetic")).click()
        page.get_by_text("Loaded").first.wait_for(timeout=120_000)
        ws_id = re.search(r"[?&]ws=([A-Za-z0-9_-]+)", page.url).group(1)
        _nav(page, "RFM segments")
        page.get_by_text("What each segment means and what to do").first.wait_for(timeout=120_000)
        sidebar = page.get_by_test_id("stSidebar")
        snap, start = (sidebar.get_by_role("group", name=n, exact=True) for n in ("Snapshot date", "From"))
        picked_snap, picked_start = _date_in(snap) - timedelta(days=30), _date_in(start) + timedelta(days=31)
        _type_date(snap, picked_snap)
        page.get_by_text(f"Snapshot {picked_snap}").first.wait_for(timeout=120_000)
        _type_date(start, picked_start)
        page.wait_for_function("() => !document.querySelector('[data-stale=true]')")
        assert (_date_in(snap), _date_in(start)) == (picked_snap, picked_start)
        page.reload()                                                   # a reload: the same workspace and data
        page.get_by_text("What each segment means and what to do").first.wait_for(timeout=120_000)
        page.get_by_text(f"Snapshot {picked_snap}").first.wait_for(timeout=60_000)
        assert (_date_in(snap), _date_in(start)) == (picked_snap, picked_start)
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
        page.goto(f"{server}/?ws={workspace_id(server, 'browser2')}")
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
        settled(page, quiet=1500)                         # any snap-back rerun would start within 1.5 s of the last run
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


_CUT_OFF = ", ".join(f"[data-testid={t}], [data-testid={t}] *" for t in ("stMetricValue", "stMetricLabel",
                                                                           "stPageLink", "stDateInput"))
_TRUNCATED = (f"() => [...document.querySelectorAll('{_CUT_OFF}')]"   # text wider than its box: cut off
              ".filter(e => e.clientWidth > 1 && e.scrollWidth > e.clientWidth + 1)"
              ".map(e => e.innerText || e.value || e.outerHTML.slice(0, 200))")


def _shot(page, name: str) -> None:
    """A screenshot of the whole page once the script has finished and every element has drawn, under
    tests/artifacts/walk_<name>.png; the page shows no traceback and no tile, page link or date cut off."""
    screenshot(page, f"walk_{name}")
    assert page.evaluate(_TRUNCATED) == [], f"cut-off text on {name}"


def test_marketer_walk_upload_overview_segments_movement_campaign_with_control(page, server, tmp_path):
    """Issue 11's walk with a real export (380 Online Retail customers): upload → Overview (the landing page once
    data exists) → RFM segments (and its customer list) → Cohorts & movement → a campaign with a 10% control group
    for the customers who moved between two segments → Clusters → a customer's card from a ?customer= link, and from
    a /lookup link saved before the page was split; a screenshot of each page under tests/artifacts/walk_*.png,
    none with a tile, page link or date cut off."""
    from playwright.sync_api import expect

    raw = _online_retail_slice(tmp_path)
    try:
        page.goto(f"{server}/?ws={workspace_id(server, 'walk')}")
        page.get_by_text("Upload a file").first.wait_for()
        page.locator("input[type=file]").set_input_files(str(raw))
        page.get_by_text(f"Loaded '{raw.name}'").wait_for(timeout=120_000)
        _shot(page, "1_upload")
        page.goto(f"{server}/?ws={workspace_id(server, 'walk')}")                                 # with data, the plain address opens on it
        expect(page.get_by_role("heading", name="Overview")).to_be_visible()
        page.get_by_text("Repeat-purchase rate").first.wait_for(timeout=120_000)
        page.locator(".js-plotly-plot").nth(1).wait_for()
        expect(page.get_by_test_id("stMetricValue").filter(has_text="£").first).to_be_visible()
        _shot(page, "2_overview")
        _nav(page, "RFM segments")
        page.get_by_text("What each segment means and what to do").first.wait_for(timeout=120_000)
        page.get_by_text("Customers per segment").first.wait_for()     # the segment table
        page.locator(".js-plotly-plot").first.wait_for()               # the treemap
        _shot(page, "3_segments")
        page.get_by_role("tab", name="Customer list").click()
        page.get_by_text("customers, revenue").first.wait_for()
        _nav(page, "Cohorts & movement")
        page.get_by_role("heading", name="Cohorts & segment movement").wait_for(timeout=120_000)
        page.locator(".js-plotly-plot").first.wait_for()                 # the cohort heatmap
        _shot(page, "4_cohorts")
        page.get_by_role("tab", name="Segment movement").click()
        page.get_by_text("Customers behind a cell").wait_for(timeout=120_000)
        moved = page.get_by_text(re.compile(r"^[\d,]+ customers went from "))
        expect(moved).to_be_visible()
        assert not moved.inner_text().startswith("0 "), moved.inner_text()
        _shot(page, "5_movement")
        _nav(page, "Campaigns")
        page.get_by_role("heading", name="Campaigns").wait_for(timeout=120_000)
        page.get_by_text("Movement cell", exact=True).click()           # the audience: a movement cell
        page.get_by_text(re.compile("Customers who moved between")).wait_for(timeout=120_000)
        page.get_by_role("button", name="Build campaign list").click()
        control = page.get_by_test_id("stMetric").filter(has_text="Control group")
        control.wait_for(timeout=120_000)
        n_control = int(control.get_by_test_id("stMetricValue").inner_text().replace(",", ""))
        n_all = int(page.get_by_test_id("stMetric").filter(has_text="Customers").first
                    .get_by_test_id("stMetricValue").inner_text().replace(",", ""))
        assert 0 < n_control < n_all, (n_control, n_all)
        expect(page.get_by_test_id("stMetric").filter(has_text="Expected coupon cost")
               .get_by_test_id("stMetricValue")).to_contain_text("£")
        page.get_by_text("Download CSV").first.wait_for()
        _shot(page, "6_campaign")
        _nav(page, "Clusters")
        page.get_by_text("Group profiles").first.wait_for(timeout=120_000)
        assert page.locator(".js-plotly-plot").count() >= 1             # the 2-D map
        _shot(page, "7_clusters")
        page.goto(f"{server}/customer?ws={workspace_id(server, 'walk')}&customer=12348")          # a regular buyer of the slice
        page.get_by_text("Churn risk").first.wait_for(timeout=120_000)
        page.get_by_text("Coupon:").first.wait_for()
        expect(page.get_by_test_id("stMetric").filter(has_text="Spend").first
               .get_by_test_id("stMetricValue")).to_contain_text("£")
        _shot(page, "8_customer")
        page.goto(f"{server}/lookup?ws={workspace_id(server, 'walk')}&customer=12348")   # saved before the split
        page.wait_for_url(re.compile(r"/customer\?.*customer=12348"))
        page.get_by_text("Churn risk").first.wait_for(timeout=120_000)
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "walk_failure.png"), full_page=True)
        raise


def _online_retail_slice(tmp_path: Path) -> Path:
    """Every line of the Online Retail customers whose id is a multiple of 12 (380 customers, 28,225 lines, a year
    of purchases), as the shop would export them, plus the header."""
    import pandas as pd

    df = pd.read_csv(dataset("online_retail.csv"), dtype=str, keep_default_na=False)
    out = tmp_path / "online_retail_380.csv"
    df[pd.to_numeric(df["CustomerID"], errors="coerce") % 12 == 0].to_csv(out, index=False)
    return out
