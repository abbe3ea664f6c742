"""Health-claim moderation service: ``create_app`` builds the WSGI app."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from flask import Flask

from .analysis.analyzer import Analyzer
from .analysis.classifier import ModelRegistry
from .analysis.policy import load_policy
from .config import load_config
from .runtime import AnalyzerProvider, build_analyzer
from .store import Store


def create_app(config: dict[str, Any] | None = None, analyzer: Analyzer | None = None) -> Flask:
    """Build the app: settings from defaults, then the environment, then ``config``.

    Pass an already-built ``analyzer`` (tests do, with a tiny real model);
    otherwise the active model is loaded here, so a missing or tampered model
    stops the boot rather than the first request.
    """
    app = Flask(__name__)
    settings = load_config(config)
    app.config.update(settings)
    app.config.update(
        API_TITLE="Kratom health-claim moderation API",
        API_VERSION="1.0.0",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="/docs",
        OPENAPI_SWAGGER_UI_URL="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.17.14/",
        JSON_SORT_KEYS=False,
    )
    registry = ModelRegistry(Path(settings["MODELS_DIR"]))
    if analyzer is None:
        policy = load_policy(Path(settings["POLICY_PATH"]) if settings["POLICY_PATH"] else None)
        analyzer = build_analyzer(registry.load(settings["MODEL_VERSION"] or None), policy, settings)
    if analyzer.model.scorer is not None and not analyzer.model.scorer.compiled:
        app.logger.warning("the compiled n-gram scorer is not built (`make install` builds it): "
                           "scoring with the same features in Python, several times slower")
    store = Store(settings["DATABASE_URL"])
    if settings["AUTO_MIGRATE"]:
        store.migrate()
    app.extensions["store"] = store
    provider = AnalyzerProvider(analyzer, analyzer.policy, registry, settings, store)
    provider.refresh(force=True)
    app.extensions["analyzers"] = provider
    app.before_request(provider.refresh)  # a clock check; a look every REFRESH_SECONDS

    from . import access, api, cli, errors, limits, observability, ui

    app.config["SECRET_KEY"] = settings["SECRET_KEY"] or _local_secret(Path(settings["DATA_DIR"]))
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax")
    observability.init_app(app)
    access.init_app(app, store)
    limits.init_app(app)
    api.init_app(app)
    ui.init_app(app)
    cli.init_app(app)
    errors.init_app(app)  # after the Api, so one problem+json shape wins everywhere
    store.dispose()  # no pooled connection crosses gunicorn's fork (preload)
    m = app.extensions["metrics"]
    m.model.labels(provider.default.model.name, provider.default.model.version).set(1)

    def _switched(old, new) -> None:
        m.model.labels(old.name, old.version).set(0)
        m.model.labels(new.name, new.version).set(1)

    provider.on_switch.append(_switched)
    return app


def _local_secret(data_dir: Path) -> str:
    """The embedded default's session secret: random, made once, shared by every worker."""
    path = data_dir / "secret_key"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = data_dir / f".secret_key.{os.getpid()}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)  # atomic: if two processes race, both read the winner's key
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_text().strip()
