"""End to end in headless Chromium: open the queue, open a review, correct a label, approve, see the decision.

Uses Debian's ``chromium`` through Playwright. A missing browser fails the test
rather than skipping it: this is the only test of the page's keyboard and forms.
Set ``UI_SCREENSHOT=path.png`` to save the review page (docs/images/review-page.png).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright
from werkzeug.serving import make_server

from service import create_app
from service.analysis.taxonomy import LABELS

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DOCUMENT = ("Kratom cures anxiety and has zero side effects. Take 5 grams twice a day. "
            "Our kratom is lab tested. Many users say it helped them quit opioids.")
MODERATOR = "moderator-ana"


@pytest.fixture()
def server(models_dir, tmp_path) -> Iterator[tuple[str, str]]:
    """The app in a real HTTP server on 127.0.0.1; yields its base URL and a moderator's API key."""
    app = create_app({"MODELS_DIR": str(models_dir), "LOG_REQUESTS": False,
                      "DATABASE_URL": f"sqlite:///{tmp_path}/store.db", "DATA_DIR": str(tmp_path)})
    store = app.extensions["store"]
    _, key = store.create_key(MODERATOR, "moderator", actor="tests")
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{http.server_port}", key
    finally:
        http.shutdown()
        thread.join(10)
        http.server_close()
        store.dispose()


@pytest.fixture()
def page(server) -> Iterator[Page]:
    base, key = server
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.key = key  # type: ignore[attr-defined]
            yield page
            context.close()
        finally:
            browser.close()


def test_open_correct_approve_and_see_the_decision(page: Page):
    api = page.request
    auth = {"Authorization": f"Bearer {page.key}"}
    queued = api.post("/v1/moderate", data={"text": DOCUMENT, "document_id": "vendor-page-17", "review": True},
                      headers=auth)
    assert queued.ok, queued.text()
    rid = queued.json()["review"]["id"]
    before = api.get(f"/v1/reviews/{rid}", headers=auth).json()
    sentence = before["analysis"]["sentences"][1]  # "Take 5 grams twice a day."
    assert sentence["text"] == "Take 5 grams twice a day."

    # signing in: the queue sends us to the sign-in page, the key brings us back
    page.goto("/ui/")
    page.wait_for_url("**/ui/login**")
    page.get_by_label("API key").fill(page.key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/ui/")
    expect(page.locator(".who")).to_contain_text(MODERATOR)

    # the queue: the review with its risk; j selects it, Enter opens it
    row = page.locator("table.queue tbody tr").first
    expect(row).to_contain_text("vendor-page-17")
    expect(row.locator(".badge")).to_have_text("High")
    page.keyboard.press("j")
    expect(row).to_have_class(re.compile(r"\bcurrent\b"))
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/ui/reviews/{rid}")

    # the review: flagged sentences highlighted, evidence marked, help on "?"
    expect(page.locator("#s-0")).to_have_class(re.compile(r"\bsev-high\b"))
    expect(page.locator("#s-0 mark").first).to_have_text("cures")
    expect(page.locator("#s-0 .flags")).to_contain_text("disease claim")
    page.keyboard.press("?")
    expect(page.locator("#help")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#help")).to_be_hidden()

    # correct a label of sentence 2 by its checkbox
    box = page.locator("#s-1").get_by_label("safety", exact=True)
    expect(box).to_be_checked(checked="safety" in sentence["labels"])
    box.click()
    expect(page.locator("#s-1 .edited-tag")).to_be_visible()
    expected = [x for x in LABELS if (x in sentence["labels"]) != (x == "safety")]

    if os.environ.get("UI_SCREENSHOT"):
        shot = Path(os.environ["UI_SCREENSHOT"])
        shot.parent.mkdir(parents=True, exist_ok=True)
        # as tall as the page, so the sticky decision bar sits below the document, not across it
        height = page.evaluate("document.documentElement.scrollHeight")
        page.set_viewport_size({"width": 1280, "height": height})
        page.screenshot(path=str(shot), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 900})

    # typing a note that contains the shortcut letters decides nothing
    page.get_by_label("Note").fill("")
    page.get_by_label("Note").press_sequentially("a dosing warning, not a claim; recheck after the rewrite")
    assert page.url.endswith(f"/ui/reviews/{rid}")
    page.keyboard.press("Escape")  # leave the note; shortcuts work again
    page.keyboard.press("a")

    # the queue is empty now, and says what happened
    page.wait_for_url("**/ui/")
    expect(page.locator(".notice-success")).to_have_text(
        f"Review #{rid} (vendor-page-17) approved with 1 sentence correction.")
    expect(page.locator(".empty")).to_contain_text("Nothing to review")

    stored = api.get(f"/v1/reviews/{rid}", headers=auth).json()
    assert stored["status"] == "approved" and stored["decided_by"] == MODERATOR
    [decision] = stored["decisions"]
    assert decision["action"] == "approve" and decision["note"].startswith("a dosing warning")
    [fix] = stored["corrections"]
    assert fix["sentence_index"] == 1 and fix["labels"] == expected
    assert fix["flags"] == [f["code"] for f in sentence["flags"]]

    # the decided review shows its decision
    page.goto(f"/ui/reviews/{rid}")
    expect(page.locator(".history")).to_contain_text(MODERATOR)
    expect(page.locator(".history")).to_contain_text("Approve")
    expect(page.locator("#s-1").get_by_label("safety", exact=True)).to_be_checked(checked="safety" in expected)
