"""Signing in to the moderators' page: session cookie, CSRF tokens, revocation, no open redirect."""

from __future__ import annotations

import re

import pytest


@pytest.fixture()
def browser_like(app):
    """A client without the test key: it signs in as a browser would."""
    client = app.test_client()
    client.environ_base.pop("HTTP_AUTHORIZATION", None)
    return client


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client, key, next_url="/ui/"):
    page = client.get("/ui/login")
    return client.post(f"/ui/login?next={next_url}", data={"key": key, "csrf_token": csrf_of(page.text)})


def queue_review(app) -> int:
    admin = app.test_client()
    r = admin.post("/v1/moderate", json={"text": "Kratom cures anxiety. Take 5 grams.", "review": True})
    return r.get_json()["review"]["id"]


def test_sign_in_sets_a_guarded_session_cookie(app, browser_like):
    r = browser_like.get("/ui/reviews/1?x=1")
    assert r.status_code == 302 and r.headers["Location"].startswith("/ui/login?next=/ui/reviews/1")
    key = app.extensions["store"].create_key("ana", "moderator", actor="t")[1]
    r = sign_in(browser_like, key, "/ui/?status=all")
    assert r.status_code == 303 and r.headers["Location"] == "/ui/?status=all"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert browser_like.get("/ui/").status_code == 200


def test_cookie_is_secure_over_tls(app):
    client = app.test_client()
    key = app.extensions["store"].create_key("ana", "moderator", actor="t")[1]
    page = client.get("/ui/login", base_url="https://mod.example")
    r = client.post("/ui/login", base_url="https://mod.example",
                    data={"key": key, "csrf_token": csrf_of(page.text)}, headers={"Authorization": ""})
    assert "Secure" in r.headers["Set-Cookie"]


@pytest.mark.parametrize("role, ok", [("client", False), ("moderator", True), ("admin", True)])
def test_only_moderators_and_admins_sign_in(app, browser_like, role, ok):
    key = app.extensions["store"].create_key(f"k-{role}", role, actor="t")[1]
    r = sign_in(browser_like, key)
    assert (r.status_code == 303) is ok
    if not ok:
        assert r.status_code == 401 and "moderator or admin key" in r.text
    assert sign_in(browser_like, "kc_00000000_nope").status_code == 401


def test_forms_need_the_csrf_token(app, browser_like):
    rid = queue_review(app)
    key = app.extensions["store"].create_key("ana", "moderator", actor="t")[1]
    sign_in(browser_like, key)
    page = browser_like.get(f"/ui/reviews/{rid}")
    forged = browser_like.post(f"/ui/reviews/{rid}/decision", data={"action": "approve", "version": "1"})
    assert forged.status_code == 400
    assert app.test_client().get(f"/v1/reviews/{rid}").get_json()["status"] == "pending"
    r = browser_like.post(f"/ui/reviews/{rid}/decision",
                          data={"action": "approve", "version": "1", "csrf_token": csrf_of(page.text)})
    assert r.status_code == 303
    assert app.test_client().get(f"/v1/reviews/{rid}").get_json()["decided_by"] == "ana"


def test_revoking_the_key_ends_the_session(app, browser_like):
    store = app.extensions["store"]
    key = store.create_key("ana", "moderator", actor="t")[1]
    sign_in(browser_like, key)
    assert browser_like.get("/ui/").status_code == 200
    store.revoke_key("ana", actor="t")
    assert browser_like.get("/ui/").status_code == 302


def test_sign_out_and_no_open_redirect(app, browser_like):
    key = app.extensions["store"].create_key("ana", "moderator", actor="t")[1]
    r = sign_in(browser_like, key, "https://evil.example/")
    assert r.headers["Location"] == "/ui/"
    assert sign_in(browser_like, key, "//evil.example/").headers["Location"] == "/ui/"
    page = browser_like.get("/ui/")
    assert browser_like.post("/ui/logout", data={"csrf_token": csrf_of(page.text)}).status_code == 303
    assert browser_like.get("/ui/").status_code == 302
