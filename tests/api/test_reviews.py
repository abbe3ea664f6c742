"""The review queue over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import json

import pytest

from service.api.moderate import ModerateResponseSchema
from service.api.reviews import ReviewPageSchema, ReviewSchema

RISKY = "Kratom cures anxiety and has zero side effects. Take 5 grams twice a day."


@pytest.fixture()
def client(make_app, database_url):
    return make_app(DATABASE_URL=database_url).test_client()


def post(client, path, body):
    return client.post(path, data=json.dumps(body), content_type="application/json")


def moderate(client, **body):
    r = post(client, "/v1/moderate", body)
    assert r.status_code == 200, r.get_json()
    ModerateResponseSchema().load(r.get_json())
    return r.get_json()


def test_review_on_request_and_automatically_at_the_review_level(client):
    asked = moderate(client, text="Kratom trees grow in Borneo.", review=True)
    assert asked["review"]["status"] == "pending" and asked["risk"]["level"] == "none"
    auto = moderate(client, text=RISKY, document_id="post-1")
    assert auto["risk"]["level"] == "high" and auto["review"]["status"] == "pending"
    anonymous = moderate(client, text=RISKY)  # no document id, not asked: not queued
    assert anonymous["review"] is None
    page = client.get("/v1/reviews").get_json()
    ReviewPageSchema().load(page)
    assert [i["id"] for i in page["items"]] == [auto["review"]["id"], asked["review"]["id"]]
    again = moderate(client, text=RISKY + " It is legal.", document_id="post-1")
    assert client.get(f"/v1/reviews/{auto['review']['id']}").get_json()["status"] == "superseded"
    assert [i["id"] for i in client.get("/v1/reviews?risk=high").get_json()["items"]] == [again["review"]["id"]]


def test_store_false_keeps_nothing(client):
    body = moderate(client, text=RISKY, document_id="draft-1", store=False)
    assert body["review"] is None and body["risk"]["level"] == "high"
    assert client.get("/v1/reviews?status=all").get_json()["items"] == []
    r = post(client, "/v1/moderate", {"text": RISKY, "store": False, "review": True})
    assert r.status_code == 422 and r.get_json()["errors"][0]["pointer"] == "/review"


def test_decision_correction_takes_effect_at_once(client):
    queued = moderate(client, text=RISKY, document_id="post-2")
    rid = queued["review"]["id"]
    review = client.get(f"/v1/reviews/{rid}").get_json()
    ReviewSchema().load(review)
    assert review["text"] == RISKY and review["analysis"]["sentences"][0]["text"].startswith("Kratom cures")
    r = post(client, f"/v1/reviews/{rid}/decision", {
        "action": "reject", "note": "disease claim", "version": review["version"],
        "corrections": [{"sentence_index": 1, "labels": ["dosing"], "flags": []}],
    })
    assert r.status_code == 200, r.get_json()
    decided = r.get_json()
    assert decided["status"] == "rejected" and decided["corrections"][0]["labels"] == ["dosing"]
    # the same sentence, differently spaced and cased, in another document
    later = moderate(client, text="Our blend is new.  TAKE 5 grams  twice a day.", store=False)
    sentence = later["sentences"][1]
    assert sentence["labels"] == ["dosing"] and sentence["flags"] == []
    assert sentence["correction"]["id"] == decided["corrections"][0]["id"]
    assert "dosing_instruction" in sentence["correction"]["model_flags"]
    assert later["sentences"][0]["correction"] is None


def test_decision_conflicts_and_errors(client):
    rid = moderate(client, text=RISKY, review=True)["review"]["id"]
    assert post(client, f"/v1/reviews/{rid}/decision", {"action": "approve"}).status_code == 200
    again = post(client, f"/v1/reviews/{rid}/decision", {"action": "reject"})
    assert again.status_code == 409 and again.mimetype == "application/problem+json"
    assert again.get_json()["current_version"] == 2
    assert post(client, f"/v1/reviews/{rid}/decision", {"action": "reject", "version": 1}).status_code == 409
    assert post(client, f"/v1/reviews/{rid}/decision", {"action": "reject", "version": 2}).status_code == 200
    assert post(client, "/v1/reviews/424242/decision", {"action": "approve"}).status_code == 404
    bad = post(client, f"/v1/reviews/{rid}/decision", {"action": "shrug", "version": 3})
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["pointer"] == "/action"
    bad = post(client, f"/v1/reviews/{rid}/decision",
               {"action": "approve", "version": 3, "corrections": [{"sentence_index": 99, "labels": [], "flags": []}]})
    assert bad.status_code == 422 and "no sentence 99" in bad.get_json()["detail"]
    assert client.get("/v1/reviews/424242").status_code == 404
    assert client.get("/v1/reviews?cursor=%%%").status_code == 422
    assert client.get("/v1/reviews?status=nope").status_code == 422


def test_feedback_applies_at_once_and_exports_in_the_training_format(client):
    text = "Kratom helps with my back pain."
    before = moderate(client, text=text, store=False)["sentences"][0]
    r = post(client, "/v1/feedback", {"text": text, "labels": ["efficacy"], "flags": ["disease_claim"]})
    assert r.status_code == 201
    after = moderate(client, text=text, store=False)["sentences"][0]
    assert after["labels"] == ["efficacy"] and [f["code"] for f in after["flags"]] == ["disease_claim"]
    if before["labels"] != ["efficacy"] or [f["code"] for f in before["flags"]] != ["disease_claim"]:
        assert after["correction"] is not None
        assert {f["source"] for f in after["flags"]} <= {"policy", "feedback"}
    export = client.get("/v1/feedback/export")
    assert export.status_code == 200 and export.mimetype == "application/x-ndjson"
    rows = [json.loads(line) for line in export.get_data(as_text=True).splitlines()]
    assert rows == [{**rows[0], "text": text, "labels": ["efficacy"], "flags": ["disease_claim"]}]
    assert rows[0]["doc_id"].startswith("feedback-")
    assert post(client, "/v1/feedback", {"text": text, "labels": ["cures"], "flags": []}).status_code == 422


def test_a_batch_is_queued_whole_or_not_at_all(client):
    """Its reviews are written in one transaction: the third document's lone surrogate (refused when
    stored) leaves the first two unqueued too, so a retry cannot duplicate them."""
    docs = [{"text": "Kratom cures cancer.", "review": True, "document_id": f"page-{i}"} for i in range(2)]
    docs.append({"text": "Kratom cures cancer.", "review": True, "document_id": "page-\ud800"})
    r = client.post("/v1/moderate/batch", data=json.dumps({"documents": docs}), content_type="application/json")
    assert r.status_code == 422, r.get_json()
    assert client.get("/v1/reviews?status=all").get_json()["items"] == []
    r = post(client, "/v1/moderate/batch", {"documents": docs[:2]})
    assert [d["review"]["status"] for d in r.get_json()["results"]] == ["pending", "pending"]
