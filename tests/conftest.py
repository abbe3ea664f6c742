"""Shared fixtures: a tiny real model trained in seconds, and apps built by the factory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service import create_app
from service.analysis.analyzer import Analyzer
from service.analysis.classifier import ModelRegistry
from service.analysis.policy import load_policy
from service.store import Store
from tests.servers import postgres_database
from training.corpus import SEED_FILE, load_corpus
from training.train import train, write_model

FIXTURES = Path(__file__).parent / "fixtures"
MINI_CORPUS = FIXTURES / "mini_corpus.jsonl"
SEED_TEXT = FIXTURES / "seed_source.txt"


@pytest.fixture(scope="session")
def policy():
    return load_policy()


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory, policy) -> Path:
    """A models directory holding one tiny model, trained on the seed and a fixture corpus."""
    root = tmp_path_factory.mktemp("models")
    rows = load_corpus([SEED_FILE, MINI_CORPUS])
    model, card = train(rows, config={"family": "nblogreg", "C": 4.0}, policy=policy, folds=3,
                        version="tiny.1")
    write_model(model, card, root)
    ModelRegistry(root).set_active("tiny.1")
    return root


@pytest.fixture()
def two_models(models_dir, tmp_path) -> Path:
    """A models directory of its own: tiny.1 (active) and tiny.2, a copy registered as newer."""
    root = tmp_path / "models"
    shutil.copytree(models_dir, root)
    dst = root / "kratom-claims-tiny.2"
    shutil.copytree(ModelRegistry(root).directory("tiny.1"), dst)
    card = json.loads((dst / "card.json").read_text())
    card.update(version="tiny.2", created_at="2099-01-01T00:00:00Z")
    (dst / "card.json").write_text(json.dumps(card))
    return root


@pytest.fixture(scope="session")
def tiny_model(models_dir):
    return ModelRegistry(models_dir).load()


@pytest.fixture(scope="session")
def analyzer(tiny_model, policy) -> Analyzer:
    return Analyzer(tiny_model, policy)


@pytest.fixture(scope="session")
def postgres_url():
    """A fresh database on the PostgreSQL server the storage tests use (`make test` starts it),
    for this test session."""
    with postgres_database("kratom_claims_test") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    """An empty, migrated store on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/store.db"
    url = request.getfixturevalue("postgres_url")
    store = Store(url)
    store.wipe()
    store.dispose()
    return url


class KeyedClient(FlaskClient):
    """A test client that sends the app's admin test key unless a test sets its own header."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        key = getattr(self.application, "test_key", None)
        if key:
            self.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {key}"


def with_admin_key(app: Flask) -> Flask:
    """Give ``app`` an admin key its test clients use by default (``app.test_key``)."""
    store = app.extensions["store"]
    name = f"test-admin-{len(store.api_keys())}"
    app.test_key = store.create_key(name, "admin", actor="tests")[1]
    app.test_client_class = KeyedClient
    return app


@pytest.fixture()
def make_app(models_dir, tmp_path):
    """Build apps by the factory (defaults: the tiny model, a SQLite store in tmp_path), each with an
    admin test key its clients send; closes their pools."""
    apps = []

    def make(**config):
        config = {"MODELS_DIR": str(models_dir), "LOG_REQUESTS": False,
                  "DATABASE_URL": f"sqlite:///{tmp_path}/store.db", "DATA_DIR": str(tmp_path), **config}
        apps.append(with_admin_key(create_app(config)))
        return apps[-1]

    yield make
    for a in apps:
        a.extensions["store"].dispose()


@pytest.fixture()
def app(make_app):
    return make_app()


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def seed_text() -> str:
    return SEED_TEXT.read_text(encoding="utf-8")
