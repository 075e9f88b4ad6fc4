"""No text cut off: every page at 1440×900 and 1280×720, in a real browser (Debian's Chromium driven by Playwright),
on the synthetic sample and on Online Retail uploaded whole.

A visible text element is *clipped* when its content is wider than its box (``scrollWidth > clientWidth``) or when
it ends with an ellipsis "…" that the data did not contain — in metrics, table cells and headers (``st.table``),
tabs, buttons, select boxes, captions, page links, expanders (opened) and radio/segmented choices. Data-grid cells are drawn
on a canvas the DOM cannot read: their columns get widths and formats in ``column_config`` instead (tested by
``tests/test_units.py``). The test fails listing every clipped text as ``dataset / page / viewport: text``, and
saves a screenshot of each page at the narrowest viewport to ``tests/artifacts/layout_<dataset>_<page>_1280.png``.

One server and one page; viewports are looped by resizing the window (each tab is opened again at each width).
Skipped (with the reason) without Chromium or Playwright; the Online Retail part is skipped with a message
when ``online_retail.csv`` is absent.
"""
from __future__ import annotations

import re

import pytest

from browser_support import ARTIFACTS, settled, workspace_id
from conftest import dataset

VIEWPORTS = ((1440, 900), (1280, 720))
SHOT = VIEWPORTS[-1]            # the screenshot of a page: at the narrowest viewport, where text is likeliest cut
pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: Containers whose text must never be cut (Streamlit test ids); their descendants are checked too.
CHECKED = ("stMetric", "stTable", "stTab", "stTabs", "stButton", "stDownloadButton", "stFormSubmitButton",
           "stPageLink", "stSelectbox", "stMultiSelect", "stCaptionContainer", "stExpander", "stRadio",
           "stButtonGroup", "stDateInput", "stTextInput", "stNumberInput", "stSidebarNavLink", "stAlert",
           "stCheckbox", "stToggle", "stSlider", "stHeading")

#: Texts of the app itself that end in "…" on purpose (not a cut)
OWN_ELLIPSES = ("What if…",)

_CLIPPED = """([ids, own]) => {
  const roots = document.querySelectorAll(ids.map(t => `[data-testid="${t}"]`).join(','));
  const out = [], seen = new Set();
  const visible = e => { const r = e.getBoundingClientRect(), s = getComputedStyle(e);
    return r.width >= 2 && r.height >= 2 && s.visibility !== 'hidden' && s.display !== 'none'
           && !e.closest('[data-testid="stSpinner"], [aria-hidden="true"], [role="tabpanel"][hidden]'); };
  for (const root of roots) {
    for (const e of [root, ...root.querySelectorAll('*')]) {
      if (seen.has(e) || !visible(e)) continue;
      seen.add(e);
      const tag = e.tagName.toLowerCase();
      if (['svg', 'path', 'textarea', 'canvas'].includes(tag)) continue;
      // the value shown by a select box or a date input is an <input>
      if (tag === 'input' && !e.closest('[data-testid=stSelectbox], [data-testid=stDateInput]')) continue;
      const text = (tag === 'input' ? e.value : (e.innerText || '')).trim().replace(/\\s+/g, ' ');
      if (!text) continue;
      const s = getComputedStyle(e);
      const wide = e.scrollWidth > e.clientWidth + 1
                   && (tag === 'input' || s.overflowX !== 'visible' || s.textOverflow === 'ellipsis');
      const dots = e.children.length === 0 && text.endsWith('…') && !own.includes(text);
      if (wide || dots) {
        const id = (e.closest('[data-testid]') || root).getAttribute('data-testid');
        out.push(`${id}: ${text.slice(0, 90)}` + (wide ? ` (${e.scrollWidth}px in ${e.clientWidth}px)` : ' (ellipsis)'));
      }
    }
  }
  return [...new Set(out)];
}"""

#: page label in the navigation -> text that shows the page has drawn
PAGES = {
    "Upload": "Current dataset",
    "Overview": "Repeat-purchase rate",
    "RFM segments": "What each segment means and what to do",
    "Cohorts & movement": "Segment movement",
    "Clusters": "Group profiles",
    "Model lab": "Model lab",
    "Model health": "Model health",
    "Customer": "Churn risk",
    "Campaigns": "Campaigns",
}

#: page label in the navigation -> its title, where they differ
TITLES = {"Cohorts & movement": "Cohorts & segment movement"}


@pytest.fixture(scope="module")
def page(chromium):
    """One page for the whole file (module-scoped, unlike browser_support's page): viewports are switched by
    resizing."""
    context = chromium.new_context(viewport={"width": VIEWPORTS[0][0], "height": VIEWPORTS[0][1]})
    pg = context.new_page()
    pg.set_default_timeout(120_000)
    yield pg
    context.close()


def _settle(page, quiet: float = 250) -> None:
    """Wait until the script has finished and every element has drawn (no spinner, skeleton or stale element), and
    the layout has not changed for ``quiet`` ms."""
    settled(page, timeout=600_000, quiet=quiet)


_OPEN_EXPANDERS = """() => { let n = 0;
  for (const d of document.querySelectorAll('[data-testid="stExpander"] details:not([open])')) {
    const r = d.getBoundingClientRect();
    if (r.width > 0 && r.height > 0) { d.querySelector('summary').click(); n++; } }
  return n; }"""


def _open_expanders(page) -> None:
    """Open every visible expander (client side, no rerun), so the text inside is checked too."""
    if page.evaluate(_OPEN_EXPANDERS):
        _steady(page)


_CHARTS_FIT = """() => [...document.querySelectorAll('[data-testid=stPlotlyChart]')]
  .every(e => e.getBoundingClientRect().width < 2 || e.scrollWidth <= e.clientWidth + 1)"""


def _steady(page) -> None:
    """After a change on the client (a window size, a tab, an expander): let the layout settle. Plotly charts redraw
    at their new width a moment later: they are given up to 10 s to fit their box (a chart still too wide then is
    reported by the check like any other cut text)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    _settle(page, quiet=150)
    try:
        page.wait_for_function(_CHARTS_FIT, timeout=10_000)
    except PlaywrightTimeout:
        pass


def _resize(page, width: int, height: int) -> None:
    page.set_viewport_size({"width": width, "height": height})
    _steady(page)


def _tabs(page) -> list:
    return page.locator('[data-testid="stTabs"] [role="tab"]').all()


def _check(page, where: str, clipped: list[str]) -> None:
    """Every viewport: the clipped texts of the page (and of each of its first tabs, opened at that width); then a
    screenshot of the page at the narrowest viewport."""
    for width, height in VIEWPORTS:
        if page.viewport_size != {"width": width, "height": height}:
            _resize(page, width, height)
        _open_expanders(page)
        found = list(page.evaluate(_CLIPPED, [list(CHECKED), list(OWN_ELLIPSES)]))
        for i in range(1, min(len(_tabs(page)), 4)):         # the first tabs of a page (their widgets draw)
            tab = _tabs(page)[i]
            tab.click()
            page.wait_for_function("t => t.getAttribute('aria-selected') === 'true'", arg=tab.element_handle())
            _steady(page)
            _open_expanders(page)
            found += [f"[tab {i}] {t}" for t in page.evaluate(_CLIPPED, [list(CHECKED), list(OWN_ELLIPSES)])]
        if len(_tabs(page)) > 1:
            _tabs(page)[0].click()
            _steady(page)
        clipped += [f"{where} / {width}×{height}: {t}" for t in dict.fromkeys(found)]
        assert page.get_by_text("Traceback").count() == 0, f"{where}: a traceback on the page"
    width, height = SHOT
    if page.viewport_size != {"width": width, "height": height}:
        _resize(page, width, height)
    _screenshot(page, where, width, height)


def _screenshot(page, where: str, width: int, height: int) -> None:
    """The whole page (the app scrolls inside its main block: the window grows to all of it for the shot)."""
    ARTIFACTS.mkdir(exist_ok=True)
    name = re.sub(r"[^a-z0-9]+", "_", where.lower()).strip("_")
    tall = page.evaluate("document.querySelector('[data-testid=stMainBlockContainer]').scrollHeight + 100")
    page.set_viewport_size({"width": width, "height": min(max(tall, height), 8000)})
    _settle(page, quiet=150)
    page.screenshot(path=str(ARTIFACTS / f"layout_{name}_{width}.png"), full_page=True)
    page.set_viewport_size({"width": width, "height": height})


def _walk(page, server: str, ws: str, label: str, customer: str) -> list[str]:
    """Every page in turn, each checked by :func:`_check` once its run has finished."""
    clipped: list[str] = []
    main = page.get_by_test_id("stMain")
    for nav, ready in PAGES.items():
        if nav == "Customer":
            page.goto(f"{server}/customer?ws={workspace_id(server, ws)}&customer={customer}")
        else:
            page.get_by_test_id("stSidebarNav").get_by_role("link", name=nav, exact=True).first.click()
        page.wait_for_function("t => document.querySelector('[data-testid=stMain] h1')?.innerText.trim() === t",
                               arg=TITLES.get(nav, nav), timeout=600_000)     # this page's run has started
        main.get_by_text(ready).first.wait_for(timeout=600_000)
        _settle(page)
        _check(page, f"{label} / {nav}", clipped)
    return clipped


def test_no_text_is_cut_off_on_the_sample(page, server):
    page.goto(f"{server}/?ws={workspace_id(server, 'layout_sample')}")
    page.get_by_role("button", name=re.compile("Load Synthetic")).click()
    page.get_by_text("Loaded").first.wait_for(timeout=300_000)
    clipped = _walk(page, server, "layout_sample", "sample", "10001")
    assert not clipped, "cut-off text:\n" + "\n".join(clipped)


def test_no_text_is_cut_off_on_online_retail(page, server):
    raw = dataset("online_retail.csv")
    page.goto(f"{server}/?ws={workspace_id(server, 'layout_retail')}")
    page.get_by_text("Upload a file").first.wait_for()
    page.locator("input[type=file]").set_input_files(str(raw))
    page.get_by_text(f"Loaded '{raw.name}'").wait_for(timeout=600_000)
    clipped = _walk(page, server, "layout_retail", "Online Retail", "14646")
    assert not clipped, "cut-off text:\n" + "\n".join(clipped)
