"""Start the service as `make run` does (gunicorn, preloaded) on a free 127.0.0.1 port, for tests."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

from service.store import Store

ROOT = Path(__file__).parents[1]
# The PostgreSQL server tests and the load-and-fault script make scratch databases on (trust auth).
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextlib.contextmanager
def postgres_database(prefix: str, base_url: str = POSTGRES_URL) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database on the server of ``base_url``; dropped afterwards."""
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(base_url)
    name = f"{prefix}_{os.getpid()}"
    conninfo = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    url = admin.set(database=name).render_as_string(hide_password=False)
    try:
        store = Store(url)
        store.migrate()
        store.dispose()
        yield url
    finally:
        with psycopg.connect(conninfo, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def gunicorn(tmp: Path, **env: str) -> Iterator[tuple[str, str]]:
    """Run gunicorn with ``env`` over the current environment; yield its base URL and an admin key."""
    store = Store(env["DATABASE_URL"])
    store.migrate()
    key = store.create_key(f"test-admin-{uuid.uuid4().hex[:8]}", "admin", actor="tests")[1]
    store.dispose()
    port = free_port()
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "prom").mkdir(exist_ok=True)
    full = {**os.environ, "PORT": str(port), "WORKERS": "2", "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prom"),
            "LOG_REQUESTS": "false", **env}
    log_path = tmp / "gunicorn.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([str(Path(sys.executable).with_name("gunicorn")), "--config", "gunicorn.conf.py",
                                 "service.wsgi:app"], cwd=ROOT, env=full, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(base + "/readyz", timeout=1)
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(log_path.read_text()) from None
                    time.sleep(0.2)
            yield base, key
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def call(url: str, body: dict | None = None, method: str | None = None, *,
         key: str | None = None) -> tuple[int, dict | bytes]:
    """One request; returns (status, parsed JSON or raw bytes), HTTP errors included."""
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            status, raw = r.status, r.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw
