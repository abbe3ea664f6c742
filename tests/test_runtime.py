"""The provider's caches of shared state (term lists, corrected sentences) follow the store's marks,
which every authenticated request reads with its key: a change made by another worker holds from the
next request, however long REFRESH_SECONDS is, and a request with no corrected sentence queries none."""

from __future__ import annotations

import pytest

from service.store import Store

SENTENCE = "Kratom is a tree from Southeast Asia."


@pytest.fixture()
def app(make_app):
    return make_app(REFRESH_SECONDS=3600)  # only the marks can bring changes in


def other_worker(app) -> Store:
    """The same database through another Store, as another worker or instance would write to it."""
    return Store(app.config["DATABASE_URL"])


def moderate(client, text=SENTENCE):
    r = client.post("/v1/moderate", json={"text": text, "store": False})
    assert r.status_code == 200, r.get_json()
    return r.get_json()["sentences"][0]


def test_a_correction_made_elsewhere_holds_from_the_next_request(app):
    client = app.test_client()
    assert moderate(client)["correction"] is None
    other = other_worker(app)
    other.add_feedback(SENTENCE, ["dosing"], ["dosing_instruction"], actor="elsewhere")
    sentence = moderate(client)
    assert sentence["labels"] == ["dosing"] and [f["code"] for f in sentence["flags"]] == ["dosing_instruction"]
    assert sentence["correction"] is not None
    other.dispose()


def test_a_term_added_elsewhere_holds_from_the_next_request(app):
    client = app.test_client()
    assert moderate(client)["flags"] == []
    other = other_worker(app)
    other.add_term("southeast asia", "disease_claim", "raise", actor="elsewhere")
    assert [f["source"] for f in moderate(client)["flags"]] == ["term_list"]
    other.delete_term(other.terms()[0]["id"], actor="elsewhere")
    assert moderate(client)["flags"] == []
    other.dispose()


def test_only_corrected_sentences_are_looked_up_in_the_store(app, monkeypatch):
    client = app.test_client()
    store = app.extensions["store"]
    store.add_feedback("Kratom cures everything.", ["efficacy"], [], actor="tests")
    asked = []
    real = store.corrections_for
    monkeypatch.setattr(store, "corrections_for", lambda keys: asked.append(list(keys)) or real(keys))
    moderate(client, SENTENCE + " It grows tall.")
    assert asked == []  # no sentence of it was ever corrected: no query
    moderate(client, "Kratom cures everything. It grows tall.")
    assert len(asked) == 1 and len(asked[0]) == 1  # the corrected one only


def test_the_corrected_set_is_read_again_when_corrections_disappear(app):
    provider = app.extensions["analyzers"]
    store = app.extensions["store"]
    store.add_feedback(SENTENCE, ["dosing"], [], actor="tests")
    provider.sync(store.marks())
    assert len(provider.corrected) == 1
    store.wipe()
    provider.sync(store.marks())
    assert provider.corrected == set()
