"""In a real browser (Debian's Chromium through Playwright): load the synthetic sample, build a campaign sent 60 days
before the end of the data, save it and read its results on the page: customers chosen as of the send date, buyers
in both groups, the cost of redeemed coupons apart from the issued ones, money in the dataset's currency only; a
window longer than the data after the send date says "too short" instead of numbers. Screenshots go to
tests/artifacts/campaign_*.png (git-ignored)."""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest

from browser_support import ARTIFACTS, screenshot, settled

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _date_in(field) -> date:
    """The date shown by a Streamlit date input (year/month/day spin buttons)."""
    part = {k: int(field.get_by_role("spinbutton", name=re.compile(f"^{k},")).get_attribute("aria-valuenow"))
            for k in ("year", "month", "day")}
    return date(**part)


def _type_date(field, day: date) -> None:
    """Type a date as a user does (digits into the year box), then click the title so the input sends it."""
    field.get_by_role("spinbutton", name=re.compile("^year,")).click()
    field.page.keyboard.type(f"{day:%Y%m%d}")
    field.page.get_by_role("heading", level=1).first.click()


def _shot(page, name: str) -> None:
    screenshot(page, f"campaign_{name}")


def test_past_campaign_built_saved_and_measured_in_the_browser(page, server):
    try:
        page.goto(server)
        page.get_by_role("button", name=re.compile("Load Synthetic")).click()
        page.get_by_text("Loaded").first.wait_for()
        page.get_by_role("link", name="Campaigns").first.click()
        page.get_by_role("button", name="Build campaign list").wait_for(timeout=300_000)   # after the scorer's fit
        sent_field = page.get_by_role("group", name="Send date", exact=True)
        end = _date_in(sent_field)                                      # default: the day after the data
        sent = end - timedelta(days=60)
        _type_date(sent_field, sent)
        page.get_by_text(f"Customers as they were on {sent}").first.wait_for()
        settled(page)
        page.get_by_label("Campaign name", exact=True).and_(page.get_by_role("textbox")).fill("browser past campaign")
        page.get_by_label("Campaign name", exact=True).and_(page.get_by_role("textbox")).press("Enter")
        settled(page)
        page.get_by_role("button", name="Build campaign list").click()
        page.get_by_text("Download CSV").first.wait_for()
        page.get_by_role("button", name=re.compile("Save campaign 'browser past campaign'")).click()
        page.get_by_text("Saved 'browser past campaign'").first.wait_for()
        _shot(page, "built")

        page.get_by_role("tab", name="Saved campaigns & results").click()
        page.get_by_role("button", name="Measure results").click()
        summary = page.get_by_text(re.compile("^Treated customers bought at a rate of")).first
        summary.wait_for()
        text = summary.inner_text()
        rates = [float(x) for x in re.findall(r"(\d+\.\d)% ", text)[:2]]
        assert len(rates) == 2 and all(r > 0 for r in rates), text             # buyers in both groups
        assert not re.search(r"\b[A-Z]{3} ?-?\d", text), text                  # no "GBP 0.00" beside a symbol
        page.get_by_text("Coupon cost (redeemed)").first.wait_for()
        page.get_by_text(re.compile("Issued, not a cost")).first.wait_for()
        assert page.get_by_text("check that the transactions use the same customer ids").count() == 0
        _shot(page, "results")

        days = page.get_by_role("spinbutton", name="Days counted from the send date")
        days.fill("90")
        days.press("Enter")
        settled(page)
        page.get_by_role("button", name="Measure results").click()
        page.get_by_text(re.compile("Too short to measure: the data cover only 60 of the 90 days")).first.wait_for()
        assert page.get_by_text(re.compile("^Treated customers bought at a rate of")).count() == 0
        _shot(page, "too_short")
    except Exception:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "campaign_failure.png"), full_page=True)
        raise
