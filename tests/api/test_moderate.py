import pytest

from service.api.moderate import BatchResponseSchema, ModerateResponseSchema

DONE_WHEN = "Kratom cures anxiety with zero side effects. Take 5 grams twice a day."


def post(client, body, path="/v1/moderate"):
    return client.post(path, json=body)


def test_moderate_returns_sentences_offsets_labels_flags_and_verdict(client):
    r = post(client, {"text": DONE_WHEN, "document_id": "doc-1"})
    assert r.status_code == 200
    body = r.get_json()
    ModerateResponseSchema().load(body)  # the response matches the documented schema
    assert body["document_id"] == "doc-1"
    assert [(s["start"], s["end"]) for s in body["sentences"]] == [(0, 44), (45, 70)]
    for s in body["sentences"]:
        assert DONE_WHEN[s["start"] : s["end"]] == s["text"]
        for f in s["flags"]:
            for e in f["evidence"]:
                assert DONE_WHEN[e["start"] : e["end"]] == e["text"]
    assert body["risk"]["level"] == "high" and body["flagged"] is True
    assert 0 < body["risk"]["score"] <= 1
    assert body["model"]["version"] == "tiny.1"
    assert body["summary"]["sentences"] == 2


def test_html_offsets_point_into_the_html_source(client):
    html = "<h2>Kratom &amp; Pain</h2><p>It is <b>100% safe</b>.</p>"
    body = post(client, {"text": html, "format": "html"}).get_json()
    assert [s["text"] for s in body["sentences"]] == ["Kratom & Pain", "It is 100% safe."]
    assert [html[s["start"] : s["end"]] for s in body["sentences"]] == [
        "Kratom &amp; Pain", "It is <b>100% safe</b>."]


def test_offsets_are_code_points_even_after_emoji(client):
    text = "😀😀 Great stuff. Kratom is completely safe."
    body = post(client, {"text": text}).get_json()
    last = body["sentences"][-1]
    assert text[last["start"] : last["end"]] == "Kratom is completely safe."


def test_batch_returns_results_in_order(client):
    docs = [{"text": "Kratom cures pain.", "document_id": "a", "store": False},
            {"text": "<p>Kratom trees grow tall.</p>", "format": "html", "document_id": "b", "store": False}]
    r = post(client, {"documents": docs}, "/v1/moderate/batch")
    assert r.status_code == 200
    body = r.get_json()
    BatchResponseSchema().load(body)
    assert [x["document_id"] for x in body["results"]] == ["a", "b"]
    single = [post(client, d).get_json() for d in docs]
    assert body["results"] == single


def test_a_request_may_pin_the_model_version(client):
    body = post(client, {"text": "Kratom.", "model_version": "tiny.1"}).get_json()
    assert body["model"]["version"] == "tiny.1"


def test_pinning_an_unknown_model_version_is_a_422(client):
    r = post(client, {"text": "Kratom.", "model_version": "nope.0"})
    assert r.status_code == 422 and r.mimetype == "application/problem+json"
    assert "nope.0" in r.get_json()["detail"]


@pytest.mark.parametrize(
    ("body", "pointers"),
    [
        ({}, ["/text"]),
        ({"text": ""}, ["/text"]),
        ({"text": "   "}, ["/text"]),
        ({"text": 5}, ["/text"]),
        ({"text": "x", "format": "pdf"}, ["/format"]),
        ({"text": "x", "document_id": "d" * 201}, ["/document_id"]),
        ({"text": "x", "colour": "red"}, ["/colour"]),
        ({"text": "x" * 200_001}, ["/text"]),
    ],
)
def test_invalid_bodies_are_422_naming_the_fields(app, body, pointers):
    app.config["MAX_CONTENT_LENGTH"] = 4 << 20
    r = app.test_client().post("/v1/moderate", json=body)
    assert r.status_code == 422
    assert r.mimetype == "application/problem+json"
    problem = r.get_json()
    assert problem["status"] == 422
    assert sorted(e["pointer"] for e in problem["errors"]) == pointers


@pytest.mark.parametrize(
    ("body", "pointer"),
    [({"documents": []}, "/documents"),
     ({"documents": [{"text": "ok"}] * 101}, "/documents"),
     ({"documents": [{"text": "ok"}, {"format": "html"}]}, "/documents/1/text")],
)
def test_invalid_batches_are_422(client, body, pointer):
    r = post(client, body, "/v1/moderate/batch")
    assert r.status_code == 422
    assert pointer in [e["pointer"] for e in r.get_json()["errors"]]
