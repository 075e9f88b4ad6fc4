"""The workspace address in a real browser (Debian's Chromium driven by Playwright, the app on a free port with its
own workspace folder): ``?ws=`` opens only an existing workspace, by the 32-hex-digit random id the app made for it.
A typed name (``?ws=demo``) and a well-formed id of no workspace are refused with one plain message (no traceback,
no page drawn) and no workspace folder is made; the plain address makes a new private workspace, which its id then
reopens. Screenshots go to tests/artifacts/workspace_*.png (git-ignored)."""
from __future__ import annotations

import re

import pytest

from browser_support import WORKSPACE_ROOTS, screenshot, settled
from pipeline.store import new_workspace_id

pytestmark = [pytest.mark.browser]

REFUSED = "This address does not open a workspace"


def _folders(server: str) -> set[str]:
    root = WORKSPACE_ROOTS[server]
    return {p.name for p in root.iterdir()} if root.exists() else set()


def test_a_typed_or_unknown_workspace_address_is_refused(page, server):
    before = _folders(server)
    for name, asked in (("typed", "demo"), ("unknown", new_workspace_id())):
        page.goto(f"{server}/?ws={asked}")
        page.get_by_text(REFUSED).first.wait_for()
        screenshot(page, f"workspace_refused_{name}")
        assert page.get_by_test_id("stAlertContentError").count() == 1, name
        assert page.get_by_text("Upload a file").count() == 0, name           # no page of the app is drawn
        assert page.get_by_test_id("stSidebarNav").count() == 0, name
        assert f"ws={asked}" in page.url and _folders(server) == before, name  # nothing made from the address

    page.goto(f"{server}/")                                                  # the plain address: a new workspace
    page.get_by_text("Upload a file").first.wait_for()
    page.wait_for_url(re.compile(r"[?&]ws=[0-9a-f]{32}\b"))
    settled(page)
    ws_id = re.search(r"[?&]ws=([0-9a-f]{32})\b", page.url).group(1)
    assert _folders(server) == before | {ws_id}
    screenshot(page, "workspace_new")

    page.goto(f"{server}/?ws={ws_id}")                                       # its id (a bookmark) reopens it
    page.get_by_text("Upload a file").first.wait_for()
    settled(page)
    assert page.get_by_text(REFUSED).count() == 0 and _folders(server) == before | {ws_id}
