"""Rate limits per key: a 429 problem with Retry-After; held across gunicorn workers through Redis."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest

from service.store import Store
from tests.servers import gunicorn

REDIS = "redis://127.0.0.1:6379/0"


def test_each_key_has_its_own_budget_and_health_is_not_limited(make_app):
    app = make_app(RATE_LIMIT="3/minute")
    store = app.extensions["store"]
    other = store.create_key("other", "client", actor="t")[1]
    client = app.test_client()
    statuses = [client.get("/v1/taxonomy").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    r = client.get("/v1/taxonomy")
    assert r.mimetype == "application/problem+json" and r.get_json()["status"] == 429
    assert int(r.headers["Retry-After"]) > 0
    assert client.get("/v1/taxonomy", headers={"Authorization": f"Bearer {other}"}).status_code == 200
    assert all(client.get("/healthz").status_code == 200 for _ in range(10))


@pytest.mark.slow
def test_redis_holds_the_limit_across_two_workers(models_dir, tmp_path):
    url = f"sqlite:///{tmp_path}/store.db"
    store = Store(url)
    store.migrate()
    _, key = store.create_key(f"limited-{uuid.uuid4().hex[:8]}", "client", actor="t")
    store.dispose()
    with gunicorn(tmp_path, MODELS_DIR=str(models_dir), DATABASE_URL=url, RATE_LIMIT="20/minute",
                  RATE_LIMIT_STORAGE=REDIS) as (base, _admin):
        import urllib.error
        import urllib.request

        def get(_):
            req = urllib.request.Request(base + "/v1/taxonomy", headers={"Authorization": f"Bearer {key}"})
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status, None
            except urllib.error.HTTPError as exc:
                return exc.code, exc.headers.get("Retry-After")

        with ThreadPoolExecutor(6) as pool:
            results = list(pool.map(get, range(60)))
    assert sum(s == 200 for s, _ in results) == 20
    assert sum(s == 429 for s, _ in results) == 40
    assert all(retry and int(retry) > 0 for s, retry in results if s == 429)
