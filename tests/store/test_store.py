"""The store on SQLite and PostgreSQL: queue order, supersession, locking, corrections, terms, retention."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import inspect

from service.analysis.errors import InputError
from service.analysis.normalize import sentence_key
from service.store import Conflict, NotFound, SentenceFix, Store
from service.store.db import alembic_config


@pytest.fixture()
def store(database_url):
    s = Store(database_url)
    s.migrate()
    yield s
    s.dispose()


def body(level: str = "high", document_id: str | None = "doc-1", sentences=("Kratom cures anxiety.",)) -> dict:
    return {
        "document_id": document_id, "model": {"name": "m", "version": "v1"}, "policy": {"version": "p1"},
        "flagged": level != "none", "risk": {"level": level, "score": 0.5},
        "summary": {}, "flags": [], "warnings": [], "review": None,
        "sentences": [{"index": i, "start": 0, "end": len(t), "text": t, "origin": "body", "labels": ["efficacy"],
                       "scores": {}, "flags": [{"code": "disease_claim", "severity": "high", "message": "m",
                                                "source": "policy", "evidence": []}], "correction": None}
                      for i, t in enumerate(sentences)],
    }


def test_queue_is_highest_risk_first_then_oldest(store):
    ids = {}
    for name, level in [("a", "medium"), ("b", "high"), ("c", "low"), ("d", "high"), ("e", "medium")]:
        ids[name] = store.enqueue(body(level, name), "t", "text", "api")["id"]
    items, cursor = store.list_reviews(limit=2)
    assert [i["document_id"] for i in items] == ["b", "d"]
    items, cursor = store.list_reviews(limit=2, cursor=cursor)
    assert [i["document_id"] for i in items] == ["a", "e"]
    items, cursor = store.list_reviews(limit=2, cursor=cursor)
    assert [i["document_id"] for i in items] == ["c"] and cursor is None
    assert [i["document_id"] for i in store.list_reviews(risk="medium")[0]] == ["a", "e"]
    with pytest.raises(InputError):
        store.list_reviews(cursor="not-a-cursor")


def test_resubmitting_a_document_supersedes_its_pending_review(store):
    first = store.enqueue(body(), "one", "text", "api")
    second = store.enqueue(body(), "two", "text", "api")
    assert second["id"] != first["id"]
    old = store.get_review(first["id"])
    assert old["status"] == "superseded" and old["superseded_by"] == second["id"]
    assert [i["id"] for i in store.list_reviews()[0]] == [second["id"]]
    with pytest.raises(Conflict, match="superseded"):
        store.decide(first["id"], "approve", actor="mod")


def test_concurrent_submissions_of_one_document_leave_one_pending(store):
    errors = []

    def submit(i):
        try:
            store.enqueue(body(), f"text {i}", "text", "api")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(store.list_reviews()[0]) == 1
    assert len(store.list_reviews(status="superseded")[0]) == 7


def test_decision_with_corrections_and_optimistic_locking(store):
    ref = store.enqueue(body(sentences=("Kratom cures anxiety.", "It grows in Thailand.")), "t", "text", "api")
    done = store.decide(ref["id"], "approve", actor="mod-a", note="ok",
                        corrections=[SentenceFix(1, (), ())], version=ref["version"])
    assert done["status"] == "approved" and done["version"] == 2 and done["decided_by"] == "mod-a"
    assert [(c["sentence_index"], c["labels"], c["flags"]) for c in done["corrections"]] == [(1, [], [])]
    with pytest.raises(Conflict) as exc:  # already decided, no version: never silently overwritten
        store.decide(ref["id"], "reject", actor="mod-b")
    assert exc.value.current_version == 2
    with pytest.raises(Conflict):  # stale version
        store.decide(ref["id"], "reject", actor="mod-b", version=1)
    changed = store.decide(ref["id"], "reject", actor="mod-b", version=2)
    assert changed["status"] == "rejected" and len(changed["decisions"]) == 2
    with pytest.raises(NotFound):
        store.decide(999_999, "approve", actor="mod")
    with pytest.raises(InputError):
        store.decide(ref["id"], "approve", actor="mod", version=3, corrections=[SentenceFix(5, (), ())])
    with pytest.raises(InputError):
        store.decide(ref["id"], "approve", actor="mod", version=3, corrections=[SentenceFix(0, ("nope",), ())])


def test_two_moderators_deciding_one_version_land_exactly_once(store):
    ref = store.enqueue(body(), "t", "text", "api")
    results: list[str] = []
    barrier = threading.Barrier(6)

    def decide(i):
        barrier.wait()
        try:
            store.decide(ref["id"], "approve", actor=f"mod-{i}", version=1)
            results.append("ok")
        except Conflict:
            results.append("conflict")

    threads = [threading.Thread(target=decide, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["conflict"] * 5 + ["ok"]
    assert len(store.get_review(ref["id"])["decisions"]) == 1


def test_latest_correction_wins_and_is_exported(store):
    first = store.add_feedback("Kratom  CURES anxiety.", ["efficacy"], ["disease_claim"], actor="mod")
    second = store.add_feedback("kratom cures anxiety.", ["efficacy"], [], actor="mod")
    store.add_feedback("Take 5 g.", ["dosing"], ["dosing_instruction"], actor="mod")
    key = sentence_key("Kratom cures ANXIETY.")
    found = store.corrections_for([key, sentence_key("unrelated")])
    assert list(found) == [key] and found[key].id == second["id"] != first["id"]
    assert found[key].flags == ()
    rows = list(store.export_feedback())
    assert [(r["text"], r["labels"], r["flags"]) for r in rows] == [
        ("kratom cures anxiety.", ["efficacy"], []), ("Take 5 g.", ["dosing"], ["dosing_instruction"])]
    assert all(r["doc_id"].startswith("feedback-") for r in rows)
    with pytest.raises(InputError):
        store.add_feedback("x", ["nope"], [], actor="mod")


def test_terms_bump_the_generation_workers_poll(store):
    g0 = store.marks().terms
    term = store.add_term("Blue  Lotus Gold", "disease_claim", "raise", actor="admin", note="code word")
    assert term["term"] == "Blue Lotus Gold" and store.marks().terms == g0 + 1
    with pytest.raises(Conflict):
        store.add_term("Blue Lotus Gold", "disease_claim", "raise", actor="admin")
    listed = store.term_list()
    assert listed.generation == g0 + 1 and [t.term for t in listed.terms] == ["Blue Lotus Gold"]
    store.delete_term(term["id"], actor="admin")
    assert store.marks().terms == g0 + 2 and store.terms() == []
    with pytest.raises(NotFound):
        store.delete_term(term["id"], actor="admin")
    with pytest.raises(InputError):
        store.add_term("   ", "disease_claim", "raise", actor="admin")
    assert [a["action"] for a in store.audit_log()][:2] == ["term.delete", "term.add"]


def test_purge_deletes_old_texts_but_keeps_decisions_and_corrections(store):
    ref = store.enqueue(body(), "secret draft", "text", "api")
    store.decide(ref["id"], "approve", actor="mod", corrections=[SentenceFix(0, ("efficacy",), ())])
    assert store.purge(timedelta(days=1)) == 0
    assert store.purge(timedelta(seconds=-1)) == 1
    review = store.get_review(ref["id"])
    assert review["text"] is None and review["analysis"] is None and review["purged_at"]
    assert len(review["decisions"]) == 1 and len(review["corrections"]) == 1
    assert store.purge(timedelta(seconds=-1)) == 0


def test_migrations_go_down_and_up(store):
    cfg = alembic_config(store.engine)
    command.downgrade(cfg, "base")
    assert "reviews" not in inspect(store.engine).get_table_names()
    store.migrate()
    assert {"reviews", "decisions", "corrections", "terms", "audit_log"} <= set(inspect(store.engine).get_table_names())


def test_reads_do_not_wait_for_a_writer_on_sqlite(tmp_path):
    """The key check and the corrections lookup run on every request: under WAL they must not take
    the write lock (they did, with BEGIN IMMEDIATE, so every request queued behind any writer)."""
    import sqlite3
    import threading

    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    store.migrate()
    key = store.create_key("reader", "client", actor="tests")[1]
    store.verify_key(key)  # last-used written now, so the reads below only read
    writer = sqlite3.connect(tmp_path / "store.db", isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # a writer holds the lock
    results = []
    reader = threading.Thread(target=lambda: results.append(
        (store.verify_key(key), store.corrections_for([sentence_key("x")]), store.marks().terms)))
    reader.start()
    reader.join(timeout=5)
    finished = not reader.is_alive()
    writer.execute("ROLLBACK")
    reader.join()
    store.dispose()
    assert finished, "a read waited for the writer's lock"
    assert results[0][0] is not None and results[0][1] == {}
