"""Flows across files and datasets in a real browser (Debian's Chromium driven by Playwright, the app on a free port
with its own workspace folder): nothing picked or guessed for one upload reaches the next one, and the address names
the dataset, so a reload and a card link open the right one.

- upload A (no amount, no category) → upload B (a store export: ``Sales``, ``Category``, US customers) → the form
  shows B's guesses → Apply → B's revenue (summed here with pandas) in B's currency;
- two datasets, the older picked in the sidebar → reload → the same dataset; an older card link (no ``?ds=``) to a
  customer of the dataset that is not active → that dataset, the card, no error; a link with ``?ds=`` → its dataset.

Screenshots of each step go to tests/artifacts/flows_*.png (git-ignored). Skipped (with the reason) where Chromium or
Playwright is missing.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from browser_support import ARTIFACTS, screenshot, settled, workspace_id

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _shot(page, name: str) -> None:
    screenshot(page, f"flows_{name}")


def _no_error(page, where: str) -> None:
    assert page.get_by_text("Traceback").count() == 0, where
    errors = page.get_by_test_id("stAlertContentError")
    assert errors.count() == 0, (where, errors.all_inner_texts())


def _ds(page) -> str | None:
    m = re.search(r"[?&]ds=([^&#]+)", page.url)
    return m.group(1) if m else None


def _upload(page, path: Path) -> None:
    page.locator("input[type=file]").set_input_files(str(path))
    page.get_by_text(f"Loaded '{path.name}'").wait_for(timeout=120_000)
    settled(page)


def _picked(page, label: str) -> str:
    """The value shown by the page's select box ``label``."""
    return page.get_by_test_id("stMain").get_by_role("combobox", name=label, exact=True).input_value()


def test_upload_a_then_b_then_apply_keeps_b_amounts_and_currency(page, server, tmp_path):
    """Issue 19, item 1: A has no amount column and no category; B's guesses are Amount = Sales, Category = Category.
    B's form must show B's guesses (it used to keep A's "— none —"), and Apply must keep B's revenue in dollars (it
    used to turn it into "Items bought" with no currency)."""
    import pandas as pd

    from pipeline.ingest import generate_raw
    from real_exports import superstore

    a = tmp_path / "gift_shop_lines.csv"                         # quantity × unit price, no amount, no category
    generate_raw(n_customers=150, seed=5).drop(columns=["Category"]).to_csv(a, index=False)
    name, data = superstore()
    b = tmp_path / name
    b.write_bytes(data)
    revenue = pd.read_csv(io.BytesIO(data))["Sales"].sum()           # every line of B is a sale (none is dropped)
    try:
        page.goto(f"{server}/?ws={workspace_id(server, 'flows_upload')}")
        page.get_by_text("Upload a file").first.wait_for()
        _upload(page, a)
        assert _picked(page, "Amount (line revenue)") == _picked(page, "Category") == "— none —"
        _shot(page, "1_upload_a")
        _upload(page, b)
        page.get_by_role("heading", name=f"Column mapping: {name}").wait_for()
        assert (_picked(page, "Amount (line revenue)"), _picked(page, "Category")) == ("Sales", "Category")
        _shot(page, "2_upload_b_form")
        page.get_by_role("button", name="Apply mapping and clean").click()
        page.get_by_text(f"Loaded '{name}' with the mapping").wait_for(timeout=120_000)
        page.get_by_text(f"Current dataset: {name}").wait_for(timeout=120_000)
        settled(page)
        _no_error(page, "after Apply")
        tile = page.get_by_test_id("stMetric").filter(has_text="Revenue").first
        value = tile.get_by_test_id("stMetricValue").inner_text()
        assert value.startswith("$") and int(re.sub(r"\D", "", value)) == round(revenue), (value, revenue)
        assert page.get_by_text("Items bought").count() == 0
        assert "USD" in _picked(page, "Currency of the amounts")
        _shot(page, "3_apply_b")
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "flows_upload_failure.png"), full_page=True)
        raise


def _shop(tmp_path: Path, name: str, seed: int, prefix: str) -> tuple[Path, str]:
    """A shop's order lines (ids prefixed so two shops share none) and its most frequent buyer."""
    from pipeline.ingest import generate_raw

    df = generate_raw(n_customers=250, seed=seed)
    df["CustomerID"] = df["CustomerID"].where(df["CustomerID"].isna(), prefix + df["CustomerID"].astype(str))
    path = tmp_path / name
    df.to_csv(path, index=False)
    kept = df[df["CustomerID"].notna() & ~df["InvoiceNo"].astype(str).str.startswith("C") & (df["Quantity"] > 0)]
    return path, str(kept["CustomerID"].value_counts().index[0])


def test_reload_keeps_the_dataset_and_a_card_link_opens_its_dataset(page, server, tmp_path):
    """Issue 19, item 7: two datasets, the older picked in the sidebar, reload → the same dataset (it used to be the
    newest); an older card link (?customer= only) to a customer of the other dataset → that dataset and the card,
    no red error; a link that names its dataset (?ds=, as every address now does) → that dataset."""
    from playwright.sync_api import expect

    a, a_customer = _shop(tmp_path, "shop_a.csv", 3, "1")
    b, b_customer = _shop(tmp_path, "shop_b.csv", 4, "2")
    try:
        page.goto(f"{server}/?ws={workspace_id(server, 'flows_links')}")
        page.get_by_text("Upload a file").first.wait_for()
        _upload(page, a)
        a_id = _ds(page)
        _upload(page, b)
        b_id = _ds(page)
        assert a_id and b_id and a_id != b_id
        picker = page.get_by_test_id("stSidebar").get_by_role("combobox", name="Saved datasets")
        expect(picker).to_have_value(re.compile("shop_b.csv"))
        picker.click()
        page.get_by_role("option", name=re.compile("shop_a.csv")).click()
        page.wait_for_url(re.compile(f"ds={a_id}"))
        page.get_by_text("Current dataset: shop_a.csv").wait_for(timeout=120_000)
        _shot(page, "4_switched_to_a")
        page.get_by_role("link", name="RFM segments").first.click()       # another page: the address keeps ?ds=
        page.get_by_text("What each segment means and what to do").first.wait_for(timeout=120_000)
        page.wait_for_url(re.compile(f"ds={a_id}"))
        page.reload()                                                      # the same address, a new session
        page.get_by_text("What each segment means and what to do").first.wait_for(timeout=120_000)
        settled(page)
        expect(picker).to_have_value(re.compile("shop_a.csv"))
        assert _ds(page) == a_id
        _no_error(page, "after reload")
        _shot(page, "5_reloaded")
        page.goto(f"{server}/customer?ws={workspace_id(server, 'flows_links')}&customer={b_customer}")   # an older link: no ?ds=
        page.get_by_text(f"Customer {b_customer} is in 'shop_b.csv'").wait_for(timeout=120_000)
        page.get_by_text("Churn risk").first.wait_for(timeout=120_000)
        settled(page)
        expect(picker).to_have_value(re.compile("shop_b.csv"))
        assert _ds(page) == b_id and f"customer={b_customer}" in page.url
        _no_error(page, "older card link")
        _shot(page, "6_card_link_other_dataset")
        page.goto(f"{server}/customer?ws={workspace_id(server, 'flows_links')}&ds={a_id}&customer={a_customer}")   # a link naming A
        page.get_by_text("Churn risk").first.wait_for(timeout=120_000)
        settled(page)
        expect(picker).to_have_value(re.compile("shop_a.csv"))
        assert _ds(page) == a_id
        _no_error(page, "card link with ?ds=")
        _shot(page, "7_card_link_named_dataset")
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "flows_links_failure.png"), full_page=True)
        raise
