"""Shared fixtures: a tiny real model trained in seconds, and apps built by the factory."""

from __future__ import annotations

from pathlib import Path

import pytest

from service import create_app
from service.analysis.analyzer import Analyzer
from service.analysis.classifier import ModelRegistry
from service.analysis.policy import load_policy
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
    model, card = train(rows, config={"family": "logreg", "C": 4.0}, policy=policy, folds=3,
                        version="tiny.1")
    write_model(model, card, root)
    ModelRegistry(root).set_active("tiny.1")
    return root


@pytest.fixture(scope="session")
def tiny_model(models_dir):
    return ModelRegistry(models_dir).load()


@pytest.fixture(scope="session")
def analyzer(tiny_model, policy) -> Analyzer:
    return Analyzer(tiny_model, policy)


@pytest.fixture()
def app(models_dir):
    return create_app({"MODELS_DIR": str(models_dir), "LOG_REQUESTS": False})


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture(scope="session")
def seed_text() -> str:
    return SEED_TEXT.read_text(encoding="utf-8")
