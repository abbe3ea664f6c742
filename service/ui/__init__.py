"""The moderators' page (server-rendered; no front-end build)."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from .auth import init_csrf
    from .views import bp

    init_csrf(app)
    app.register_blueprint(bp)
