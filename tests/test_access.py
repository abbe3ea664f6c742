"""Every protected route, for every role: 401 without a valid key, 403 below the route's role."""

from __future__ import annotations

import pytest

from service.access import PUBLIC_ENDPOINTS, allows, required_role
from service.store.schema import ROLES

PARAMS = {"review_id": "1", "term_id": "1", "key_id": "999", "version": "tiny.1"}


def routes(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = rule.rule
        for name in rule.arguments:
            value = PARAMS.get(name, "x.css")
            path = path.replace(f"<int:{name}>", value).replace(f"<string:{name}>", value)
            path = path.replace(f"<path:{name}>", "x.css").replace(f"<{name}>", PARAMS.get(name, "x"))
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method, path


def send(client, method, path, key=None):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    kwargs = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    client.environ_base.pop("HTTP_AUTHORIZATION", None)
    return client.open(path, method=method, headers=headers, **kwargs)


def test_every_route_is_public_or_needs_a_role(app):
    seen = set()
    for rule, _, _ in routes(app):
        needed = required_role(rule.endpoint, rule.endpoint.rpartition(".")[0] or None)
        assert needed is None or needed in ROLES
        seen.add((rule.endpoint, needed))
    public = {e for e, n in seen if n is None}
    assert public <= PUBLIC_ENDPOINTS
    assert {"reviews.Reviews", "admin.Terms", "keys.Keys", "moderate.Moderate"} <= {e for e, n in seen if n}


def test_roles_on_every_protected_route(app):
    store = app.extensions["store"]
    keys = {role: store.create_key(f"k-{role}", role, actor="t")[1] for role in ROLES}
    client = app.test_client()
    checked = 0
    for rule, method, path in routes(app):
        needed = required_role(rule.endpoint, rule.endpoint.rpartition(".")[0] or None)
        if needed is None:
            assert send(client, method, path).status_code not in (401, 403), path
            continue
        anonymous = send(client, method, path)
        if path.startswith("/ui/"):
            assert anonymous.status_code == 302 and "/ui/login" in anonymous.headers["Location"], path
        else:
            assert anonymous.status_code == 401, (method, path)
            assert anonymous.mimetype == "application/problem+json"
            assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
        assert send(client, method, path, "kc_00000000_forged").status_code == 401
        for role, key in keys.items():
            status = send(client, method, path, key).status_code
            if allows(role, needed):
                assert status not in (401, 403), (role, method, path, status)
            else:
                assert status == 403, (role, method, path, status)
            checked += 1
    assert checked > 40


def test_revocation_takes_effect_on_the_next_request(app):
    admin = app.test_client()  # sends the app's admin key
    created = admin.post("/v1/keys", json={"name": "cms-1", "role": "client"})
    assert created.status_code == 201
    key = created.get_json()["key"]
    assert key.startswith(created.get_json()["prefix"])
    cms = app.test_client()
    cms.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    assert cms.post("/v1/moderate", json={"text": "Kratom.", "store": False}).status_code == 200
    listed = {k["name"]: k for k in admin.get("/v1/keys").get_json()["items"]}
    assert listed["cms-1"]["last_used_at"] and "key" not in listed["cms-1"]
    assert admin.delete(f"/v1/keys/{listed['cms-1']['id']}").status_code == 200
    assert cms.post("/v1/moderate", json={"text": "Kratom.", "store": False}).status_code == 401
    assert admin.post("/v1/keys", json={"name": "cms-1", "role": "client"}).status_code == 409
    assert admin.post("/v1/keys", json={"name": "x", "role": "root"}).status_code == 422


def test_keys_are_stored_only_as_salted_hashes(app):
    store = app.extensions["store"]
    _, key_a = store.create_key("a", "client", actor="t")
    _, key_b = store.create_key("b", "client", actor="t")
    from sqlalchemy import select

    from service.store.schema import ApiKey
    with store.session() as s:
        rows = list(s.scalars(select(ApiKey).where(ApiKey.name.in_(["a", "b"]))))
    dump = repr([(r.prefix, r.salt, r.digest) for r in rows])
    assert key_a not in dump and key_a.split("_", 2)[2] not in dump
    assert rows[0].salt != rows[1].salt and store.verify_key(key_b)["name"] == "b"
    assert store.verify_key(key_b[:-1] + ("A" if key_b[-1] != "A" else "B")) is None


@pytest.mark.parametrize("header", ["Bearer", "Basic abc", "Bearer kc_x", "Token kc_12345678_abc"])
def test_malformed_authorization_is_401(client, header):
    client.environ_base["HTTP_AUTHORIZATION"] = header
    assert client.get("/v1/taxonomy").status_code == 401
