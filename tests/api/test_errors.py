"""Every error is RFC 9457 problem+json with a request id; a 500 leaks nothing."""

import pytest


def assert_problem(r, status):
    assert r.status_code == status
    assert r.mimetype == "application/problem+json"
    body = r.get_json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    assert body["request_id"] == r.headers["X-Request-ID"]
    return body


def test_malformed_json_is_400(client):
    assert_problem(client.post("/v1/moderate", data="{not json", content_type="application/json"), 400)


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type_is_415(client, ctype):
    kwargs = {"data": '{"text": "x"}'}
    if ctype:
        kwargs["content_type"] = ctype
    assert_problem(client.post("/v1/moderate", **kwargs), 415)


def test_body_over_the_limit_is_413(make_app):
    app = make_app(MAX_CONTENT_LENGTH=1000)
    r = app.test_client().post("/v1/moderate", json={"text": "x" * 2000})
    body = assert_problem(r, 413)
    assert "1000" in body["detail"]


def test_text_over_the_configured_limit_is_413_naming_it(make_app):
    app = make_app(MAX_TEXT_CHARS=10)
    body = assert_problem(app.test_client().post("/v1/moderate", json={"text": "x" * 11}), 413)
    assert body["limit"] == "text_chars" and body["maximum"] == 10


def test_too_many_sentences_is_413(make_app):
    app = make_app(MAX_SENTENCES=2)
    body = assert_problem(app.test_client().post("/v1/moderate", json={"text": "One. Two. Three."}), 413)
    assert body["limit"] == "sentences"


def test_unknown_path_is_404(client):
    assert_problem(client.get("/v2/nothing"), 404)


def test_wrong_method_is_405_with_allow(client):
    r = client.get("/v1/moderate")
    assert_problem(r, 405)
    assert "POST" in r.headers["Allow"]


def test_an_unexpected_error_is_500_without_a_traceback(app, monkeypatch):
    provider = app.extensions["analyzers"]

    def explode(*_a, **_k):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(provider.default, "score", explode)
    r = app.test_client().post("/v1/moderate", json={"text": "Kratom."})
    body = assert_problem(r, 500)
    assert "secret" not in r.get_data(as_text=True) and "Traceback" not in body["detail"]


def test_request_id_is_echoed_or_generated(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    generated = client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"}).headers["X-Request-ID"]
    assert generated and generated != "bad id with spaces"


def test_an_undeclared_method_is_405_whatever_its_body(client):
    r = client.put("/v1/terms", data="x", content_type="text/plain")
    assert_problem(r, 405)


def test_a_post_without_a_body_is_not_asked_for_json(client):
    r = client.post("/v1/models/no-such-version/activate")
    assert_problem(r, 404)
    r = client.post("/v1/moderate")  # no body where one is needed: the fields it lacks, named
    assert_problem(r, 422)
