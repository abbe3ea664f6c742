"""No decision or correction is lost: concurrent writes against gunicorn (2 workers), SQLite and PostgreSQL."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from service.store import Store
from tests.servers import call, gunicorn

REVIEWS = 300
RACED = 100  # reviews that two moderators decide at once, on the same version
FEEDBACK = 200


@pytest.mark.slow
def test_concurrent_decisions_and_corrections_are_each_stored_exactly_once(models_dir, database_url, tmp_path):
    with gunicorn(tmp_path, MODELS_DIR=str(models_dir), DATABASE_URL=database_url, RATE_LIMIT="off") as (base, key):
        review_ids = []
        for start in range(0, REVIEWS, 100):
            docs = [{"text": f"Kratom cures anxiety, says vendor {i}. Take {i % 7 + 1} grams.",
                     "document_id": f"doc-{i}", "review": True} for i in range(start, start + 100)]
            status, body = call(base + "/v1/moderate/batch", {"documents": docs}, key=key)
            assert status == 200, body
            review_ids += [r["review"]["id"] for r in body["results"]]
        assert len(set(review_ids)) == REVIEWS

        def decide(k):
            rid = review_ids[k % REVIEWS]
            return "decision", k, call(f"{base}/v1/reviews/{rid}/decision", {
                "action": ("approve", "reject", "request_changes")[k % 3], "version": 1, "note": f"op {k}",
                "corrections": [{"sentence_index": 1, "labels": ["dosing"], "flags": []}]}, key=key)

        def feedback(k):
            return "feedback", k, call(base + "/v1/feedback", {
                "text": f"Sentence {k} says kratom eased the pain.", "labels": ["efficacy"], "flags": []}, key=key)

        ops = [lambda k=k: decide(k) for k in range(REVIEWS + RACED)] + \
              [lambda k=k: feedback(k) for k in range(FEEDBACK)]
        ops = ops[::2] + ops[1::2]  # interleave kinds
        started = time.monotonic()
        with ThreadPoolExecutor(12) as pool:
            results = list(pool.map(lambda op: op(), ops))
        elapsed = time.monotonic() - started

    statuses = {}
    for kind, _, (status, _) in results:
        statuses[(kind, status)] = statuses.get((kind, status), 0) + 1
    # every review decided once; of each raced pair exactly one wins, the other is told 409
    assert statuses == {("decision", 200): REVIEWS, ("decision", 409): RACED, ("feedback", 201): FEEDBACK}, statuses

    store = Store(database_url)
    try:
        counts = store.counts()
        assert counts["decisions"] == REVIEWS
        assert counts["corrections"] == REVIEWS + FEEDBACK
        for rid in review_ids[:RACED]:
            review = store.get_review(rid)
            assert len(review["decisions"]) == 1 and len(review["corrections"]) == 1
            assert review["status"] != "pending" and review["version"] == 2
        exported = list(store.export_feedback())
        assert sum(r["source"] == "feedback" for r in exported) == FEEDBACK
    finally:
        store.dispose()
    print(f"{len(ops)} writes in {elapsed:.1f} s on {database_url.split(':')[0]}")
