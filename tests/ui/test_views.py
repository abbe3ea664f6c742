"""The moderators' page through the Flask test client: queue, review, decisions, conflicts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest

from service.analysis.taxonomy import FLAGS, LABELS
from service.store.schema import DECISION_STATUS
from service.ui.views import ACTIONS, DONE, ago

DOCUMENT = ("Kratom cures anxiety and has zero side effects. Take 5 grams twice a day. "
            "Our kratom is lab tested. Many users say it helped them quit opioids.")


def queue_review(client, text: str = DOCUMENT, document_id: str = "post-1") -> int:
    r = client.post("/v1/moderate", json={"text": text, "document_id": document_id, "review": True})
    assert r.status_code == 200, r.get_json()
    return r.get_json()["review"]["id"]


def html(response) -> str:
    return response.get_data(as_text=True)


def checked(page: str, name: str) -> set[str]:
    """The values of the checked boxes named ``name``."""
    boxes = re.findall(r'<input type="checkbox" name="([^"]+)" value="([^"]+)"( checked)?', page)
    return {value for n, value, on in boxes if n == name and on}


def form_of(page: str) -> dict[str, list[str]]:
    """The review form as a browser would post it untouched (hidden fields and checked boxes)."""
    form: dict[str, list[str]] = {}
    for name, value in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page):
        form.setdefault(name, []).append(value)
    for name, value, on in re.findall(r'<input type="checkbox" name="([^"]+)" value="([^"]+)"( checked)?', page):
        if on:
            form.setdefault(name, []).append(value)
    return form


def test_queue_lists_the_queued_review(client):
    rid = queue_review(client)
    queue_review(client, "Kratom trees grow in Borneo.", "post-2")
    r = client.get("/ui/")
    assert r.status_code == 200 and r.mimetype == "text/html"
    page = html(r)
    assert f'href="/ui/reviews/{rid}"' in page and "post-1" in page and "post-2" in page
    assert page.index("post-1") < page.index("post-2")  # highest risk first
    assert 'class="badge risk-high">High<' in page and "just now" in page
    assert "disease claim" in page
    high_only = html(client.get("/ui/?risk=high"))
    assert "post-1" in high_only and "post-2" not in high_only
    assert "Nothing to review" in html(client.get("/ui/?status=approved"))


def test_queue_pages_with_the_store_cursor(client):
    for i in range(27):
        queue_review(client, f"Kratom leaves are green, note {i}.", f"doc-{i:02d}")
    first = html(client.get("/ui/"))
    assert "doc-00" in first and "doc-24" in first and "doc-25" not in first
    link = unescape(re.search(r'<a rel="next" href="([^"]+)"', first).group(1))
    second = html(client.get(link))
    assert "doc-25" in second and "doc-26" in second and "doc-00" not in second
    assert 'rel="next"' not in second and "First page" in second


def test_queue_rejects_bad_filters_without_failing(client):
    r = client.get("/ui/?status=bogus")
    assert r.status_code == 400 and "There is no status" in html(r)
    r = client.get("/ui/?cursor=not-a-cursor")
    assert r.status_code == 400 and "no longer valid" in html(r)


def test_review_page_highlights_and_offers_corrections(client):
    rid = queue_review(client)
    review = client.get(f"/v1/reviews/{rid}").get_json()
    first = review["analysis"]["sentences"][0]
    page = html(client.get(f"/ui/reviews/{rid}"))
    assert '<li class="sentence sev-high" id="s-0"' in page
    assert '<mark class="sev-high" title="disease claim, absolute claim">cures</mark>' in page
    assert "zero side effects</mark>" in page
    for flag in first["flags"]:
        assert unescape(flag["message"]) in unescape(page)
    # every sentence has the 4 label and 9 flag boxes, pre-checked with the analysis
    for s in review["analysis"]["sentences"]:
        i = s["index"]
        assert page.count(f'name="labels-{i}"') == len(LABELS) and page.count(f'name="flags-{i}"') == len(FLAGS)
        assert checked(page, f"labels-{i}") == set(s["labels"])
        assert checked(page, f"flags-{i}") == {f["code"] for f in s["flags"]}
    assert f'<input type="hidden" name="version" value="{review["version"]}">' in page
    assert 'value="approve"' in page and 'value="reject"' in page and 'value="request_changes"' in page
    assert '<label for="note">' in page


def test_user_content_is_escaped(client):
    rid = queue_review(client, "Kratom cures <script>alert(1)</script> anxiety.", "<b>doc</b>")
    page = html(client.get(f"/ui/reviews/{rid}"))
    assert "<script>alert" not in page and "&lt;script&gt;" in page and "<b>doc</b>" not in page
    assert "&lt;b&gt;doc&lt;/b&gt;" in html(client.get("/ui/"))


def test_decision_with_a_changed_label_stores_that_correction(client):
    rid = queue_review(client)
    other = queue_review(client, "Kratom helps with chronic pain.", "post-9")
    page = html(client.get(f"/ui/reviews/{rid}"))
    form = form_of(page)
    before = set(form["labels-1"])
    assert "dosing" in before
    form["labels-1"] = [x for x in form["labels-1"] if x != "dosing"] + ["safety"]
    form["action"] = ["approve"]
    form["note"] = ["dose sentence is a warning"]
    r = client.post(f"/ui/reviews/{rid}/decision", data=form)
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/ui/reviews/{other}")
    stored = client.get(f"/v1/reviews/{rid}").get_json()
    assert stored["status"] == "approved" and stored["version"] == 2
    assert [d["action"] for d in stored["decisions"]] == ["approve"]
    assert stored["decisions"][0]["note"] == "dose sentence is a warning"
    # one correction, for the one sentence that changed, with labels in taxonomy order
    [fix] = stored["corrections"]
    assert fix["sentence_index"] == 1
    assert fix["labels"] == [x for x in LABELS if x in (before - {"dosing"}) | {"safety"}]
    assert fix["flags"] == form["flags-1"]
    following = html(client.get(r.headers["Location"]))
    assert "Review #1 (post-1) approved with 1 sentence correction." in following


def test_untouched_decision_sends_no_corrections_and_empties_the_queue(client):
    rid = queue_review(client)
    form = form_of(html(client.get(f"/ui/reviews/{rid}")))
    form["action"] = ["reject"]
    r = client.post(f"/ui/reviews/{rid}/decision", data=form)
    assert r.status_code == 303 and r.headers["Location"].endswith("/ui/")
    stored = client.get(f"/v1/reviews/{rid}").get_json()
    assert stored["status"] == "rejected" and stored["corrections"] == []
    page = html(client.get("/ui/"))
    assert "rejected." in page and "The queue is empty." in page
    # the decided review shows its decision and still accepts a new one, at its new version
    page = html(client.get(f"/ui/reviews/{rid}"))
    assert "Earlier decisions" in page and 'name="version" value="2"' in page


def test_stale_version_shows_the_conflict_not_an_error(client):
    rid = queue_review(client)
    form = form_of(html(client.get(f"/ui/reviews/{rid}")))
    first = client.post(f"/v1/reviews/{rid}/decision", json={"action": "reject", "version": 1})
    assert first.status_code == 200
    form["action"] = ["approve"]
    form["note"] = ["my note"]
    r = client.post(f"/ui/reviews/{rid}/decision", data=form)
    assert r.status_code == 409 and r.mimetype == "text/html"
    page = html(r)
    assert "Someone else decided this review while you had it open" in page
    assert "it is now rejected" in page and "Your decision was not saved" in page
    assert 'name="version" value="2"' in page and ">my note</textarea>" in page
    assert client.get(f"/v1/reviews/{rid}").get_json()["status"] == "rejected"


def test_superseded_review_conflicts_and_links_to_the_new_one(client):
    rid = queue_review(client)
    form = form_of(html(client.get(f"/ui/reviews/{rid}")))
    newer = queue_review(client, DOCUMENT + " It is legal.")
    form["action"] = ["approve"]
    r = client.post(f"/ui/reviews/{rid}/decision", data=form)
    assert r.status_code == 409
    page = html(r)
    assert f"superseded by review #{newer}" in page and f'href="/ui/reviews/{newer}"' in page
    assert 'value="approve"' not in page  # nothing left to decide here


@pytest.mark.parametrize(("change", "status", "message"), [
    ({"action": ["delete"]}, 400, "Choose approve, reject or request changes."),
    ({"version": ["x"]}, 400, "which version of the review you read"),
    ({"labels-0": ["efficacy", "nonsense"]}, 422, "unknown labels or flags: nonsense"),
    ({"sentence": ["0", "99"]}, 422, "has no sentence"),
])
def test_bad_forms_are_explained_and_save_nothing(client, change, status, message):
    rid = queue_review(client)
    form = form_of(html(client.get(f"/ui/reviews/{rid}")))
    form["action"] = ["approve"]
    form.update(change)
    r = client.post(f"/ui/reviews/{rid}/decision", data=form)
    assert r.status_code == status and message in unescape(html(r))
    assert client.get(f"/v1/reviews/{rid}").get_json()["status"] == "pending"


def test_purged_review_is_decided_without_corrections(app, client):
    rid = queue_review(client)
    form = form_of(html(client.get(f"/ui/reviews/{rid}")))
    store = app.extensions["store"]
    assert store.purge(timedelta(seconds=-1)) == 1
    page = html(client.get(f"/ui/reviews/{rid}"))
    assert "was purged" in page and 'name="labels-0"' not in page
    stale = {**form, "action": ["approve"]}  # a form from before the purge still names sentences
    r = client.post(f"/ui/reviews/{rid}/decision", data=stale)
    assert r.status_code == 422 and "its text was purged" in html(r)
    r = client.post(f"/ui/reviews/{rid}/decision", data={"action": "approve", "version": form["version"]})
    assert r.status_code == 303
    assert client.get(f"/v1/reviews/{rid}").get_json()["status"] == "approved"


def test_unknown_review_is_a_404_page(client):
    for r in (client.get("/ui/reviews/999"),
              client.post("/ui/reviews/999/decision", data={"action": "approve", "version": "1"})):
        assert r.status_code == 404 and r.mimetype == "text/html"
        assert "No review #999" in html(r)


def test_static_files_are_served(client):
    for name in ("ui.css", "ui.js"):
        with client.get(f"/ui/static/{name}") as r:
            assert r.status_code == 200


def test_age():
    now = datetime(2026, 1, 2, 12, 0, tzinfo=UTC)
    assert ago("2026-01-02T11:59:50Z", now) == "just now"
    assert ago("2026-01-02T11:57:00Z", now) == "3 min ago"
    assert ago("2026-01-02T09:00:00Z", now) == "3 h ago"
    assert ago("2026-01-01T12:00:00Z", now) == "1 day ago"
    assert ago("2025-11-01T12:00:00Z", now) == "2 months ago"
    assert ago(None, now) == "" and ago("yesterday", now) == "yesterday"


def test_the_page_offers_exactly_the_decisions_the_store_knows():
    assert set(ACTIONS) == set(DONE) == set(DECISION_STATUS)
