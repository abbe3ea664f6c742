"""Term lists and model versions over HTTP."""

from __future__ import annotations

import json

import pytest

from service.analysis.classifier import ModelRegistry


@pytest.fixture()
def client(make_app, two_models, database_url):
    return make_app(MODELS_DIR=str(two_models), DATABASE_URL=database_url, REFRESH_SECONDS=0).test_client()


def post(client, path, body=None):
    return client.post(path, data=json.dumps(body or {}), content_type="application/json")


def flags_of(client, text):
    r = post(client, "/v1/moderate", {"text": text, "store": False})
    return [(f["code"], f["source"], f["evidence"][0]["text"]) for f in r.get_json()["sentences"][0]["flags"]]


def test_raise_and_suppress_terms_apply_at_once_and_are_marked(client):
    text = "Try our Blue-Lotus  gold blend for your arthritis, it cures arthritis."
    before = flags_of(client, text)
    r = post(client, "/v1/terms", {"term": "blue lotus gold", "flag": "vulnerable_population", "effect": "raise",
                                   "note": "vendor code word"})
    assert r.status_code == 201, r.get_json()
    term = r.get_json()
    raised = flags_of(client, "Try our BLUE LOTUS GOLD blend.")
    assert raised == [("vulnerable_population", "term_list", "BLUE LOTUS GOLD")]
    assert flags_of(client, "Try our blue lotus golden blend.") == []  # whole words only
    assert post(client, "/v1/terms", {"term": "blue lotus gold", "flag": "vulnerable_population",
                                      "effect": "raise"}).status_code == 409
    if any(code == "disease_claim" for code, _, _ in before):
        r = post(client, "/v1/terms", {"term": "arthritis", "flag": "disease_claim", "effect": "suppress"})
        assert r.status_code == 201
        assert all(code != "disease_claim" for code, _, _ in flags_of(client, text))
    assert client.get("/v1/terms").get_json()["items"][0]["term"] == "blue lotus gold"
    assert client.delete(f"/v1/terms/{term['id']}").status_code == 204
    assert flags_of(client, "Try our BLUE LOTUS GOLD blend.") == []
    assert client.delete(f"/v1/terms/{term['id']}").status_code == 404
    assert post(client, "/v1/terms", {"term": "x", "flag": "nope", "effect": "raise"}).status_code == 422
    assert post(client, "/v1/terms", {"term": "x", "flag": "disease_claim", "effect": "boost"}).status_code == 422


def test_terms_reach_another_worker_within_the_refresh_interval(make_app, two_models, database_url):
    a, b = (make_app(MODELS_DIR=str(two_models), DATABASE_URL=database_url, REFRESH_SECONDS=0).test_client()
            for _ in range(2))  # two workers sharing one database
    assert flags_of(b, "Ask about the midnight special.") == []
    post(a, "/v1/terms", {"term": "midnight special", "flag": "dosing_instruction", "effect": "raise"})
    assert flags_of(b, "Ask about the midnight special.")[0][:2] == ("dosing_instruction", "term_list")


def test_models_list_activate_and_roll_back(client, two_models):
    listed = client.get("/v1/models").get_json()["items"]
    assert [(m["version"], m["active"], m["serving"]) for m in listed] == [("tiny.2", False, False),
                                                                           ("tiny.1", True, True)]
    r = post(client, "/v1/models/tiny.2/activate")
    assert r.status_code == 200 and r.get_json()["active"] and r.get_json()["serving"]
    assert client.get("/v1/model").get_json()["version"] == "tiny.2"
    assert post(client, "/v1/moderate", {"text": "Kratom.", "store": False}).get_json()["model"]["version"] == "tiny.2"
    assert post(client, "/v1/models/tiny.1/activate").status_code == 200  # rollback
    assert client.get("/v1/model").get_json()["version"] == "tiny.1"
    assert post(client, "/v1/models/tiny.9/activate").status_code == 404
    assert post(client, "/v1/models/..%2Fetc/activate").status_code == 404


def test_a_tampered_version_is_not_activated(client, two_models):
    scorer = ModelRegistry(two_models).directory("tiny.2") / "scorer.npz"
    scorer.write_bytes(scorer.read_bytes() + b"x")
    r = post(client, "/v1/models/tiny.2/activate")
    assert r.status_code == 503 and "sha" in r.get_json()["detail"].lower()
    assert ModelRegistry(two_models).active_version() == "tiny.1"


def test_pinned_service_refuses_activation(make_app, two_models, database_url):
    app = make_app(MODELS_DIR=str(two_models), DATABASE_URL=database_url, MODEL_VERSION="tiny.1")
    assert post(app.test_client(), "/v1/models/tiny.2/activate").status_code == 409
