"""The optional password in a real browser (the app started with a secrets file that sets it): before signing in,
no page of the app runs and none is listed, whatever address is opened (Streamlit would otherwise list the files
in pages/ and run them past the gate), and no workspace is made; after signing in, a ``?ws=`` that names no
workspace is refused and the plain address opens the app. Screenshots: tests/artifacts/gate_*.png."""
from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from browser_support import WORKSPACE_ROOTS, screenshot, settled

pytestmark = [pytest.mark.browser]

_SECRETS = Path(tempfile.mkdtemp(prefix="gate-")) / "secrets.toml"
_SECRETS.write_text('password = "s3cret"\n')
STREAMLIT_ARGS = ["--secrets.files", str(_SECRETS)]        # read by browser_support's server fixture


def _folders(server: str) -> set[str]:
    root = WORKSPACE_ROOTS[server]
    return {p.name for p in root.iterdir()} if root.exists() else set()


def _close_notice(page) -> None:
    """Close Streamlit's "Page not found" notice (a page address before signing in opens the sign-in)."""
    if page.get_by_role("dialog").count():
        page.keyboard.press("Escape")
        page.get_by_role("dialog").wait_for(state="hidden")


def _sign_in(page) -> None:
    _close_notice(page)
    page.get_by_test_id("stTextInputField").fill("s3cret")
    page.get_by_role("button", name="Sign in").click()


def test_no_page_runs_or_is_listed_before_the_password(page, server):
    # the server's first session opens a page address: Streamlit still lists pages/ itself until the router has
    # run once, so it runs that page's file directly; the page stops at the workspace with a plain message
    page.goto(f"{server}/upload")
    page.get_by_text("Customer segmentation").or_(page.get_by_text("This app has a password")).first.wait_for()
    settled(page)
    assert page.get_by_text("Upload a file").count() == 0 and _folders(server) == set()
    for path in ("/", "/upload", "/customer?customer=10001", "/model_lab?ws=demo"):
        page.goto(f"{server}{path}")
        page.get_by_text("Customer segmentation").first.wait_for()
        settled(page)
        assert page.get_by_test_id("stTextInputField").count() == 1, path
        assert page.get_by_test_id("stSidebarNav").count() == 0, path          # no list of pages
        assert page.get_by_text("Upload a file").count() == 0, path            # no page ran
        assert _folders(server) == set(), path                                 # no workspace made
    screenshot(page, "gate_sign_in")

    _close_notice(page)
    page.get_by_test_id("stTextInputField").fill("wrong")                    # a wrong password: still nothing
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Wrong password.").wait_for()
    assert page.get_by_test_id("stSidebarNav").count() == 0 and _folders(server) == set()

    _sign_in(page)                                                             # the query (?ws=demo) is kept
    page.get_by_text("This address does not open a workspace").first.wait_for()
    assert "ws=demo" in page.url and _folders(server) == set()
    screenshot(page, "gate_signed_in_refused")

    page.goto(f"{server}/")                                                    # the plain address, a new session
    page.get_by_test_id("stTextInputField").wait_for()
    _sign_in(page)
    page.get_by_text("Upload a file").first.wait_for()
    settled(page)
    assert page.get_by_test_id("stSidebarNav").count() == 1 and len(_folders(server)) == 1
    screenshot(page, "gate_signed_in")
