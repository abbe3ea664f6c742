"""Who may do what: API keys with roles, checked before every request.

Roles are ordered (``client`` < ``moderator`` < ``admin``); each blueprint
needs one role, in one table, and anything not listed needs ``admin``, so a
new route is closed until someone opens it. The API takes
``Authorization: Bearer <key>``; the moderators' page signs in with a key once
and then carries a session cookie (see ``service.ui``). Keys are looked up on
every request, so a revocation takes effect on the next one.
"""

from __future__ import annotations

from flask import Flask, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from werkzeug.wrappers import Response

from .errors import problem
from .store import Store
from .store.schema import ROLES

PUBLIC_ENDPOINTS = frozenset({
    "meta.Health", "meta.Ready", "meta.PrometheusMetrics",
    "api-docs.openapi_json", "api-docs.openapi_swagger_ui",
    "ui.login", "ui.static",
})
ROLE_OF_BLUEPRINT = {
    "moderate": "client",
    "meta": "client",  # taxonomy and model information
    "reviews": "moderator",
    "ui": "moderator",
    "admin": "admin",  # term lists, model activation
    "keys": "admin",
}


def required_role(endpoint: str | None, blueprint: str | None) -> str | None:
    """The role an endpoint needs; None for public ones."""
    if endpoint is None or endpoint in PUBLIC_ENDPOINTS:
        return None
    return ROLE_OF_BLUEPRINT.get(blueprint or "", "admin")


def allows(role: str, needed: str) -> bool:
    return ROLES.index(role) >= ROLES.index(needed)


class SessionInterface(SecureCookieSessionInterface):
    """Session cookies are ``Secure`` whenever the request came over TLS (or the setting forces it)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or (request and request.is_secure))


def init_app(app: Flask, store: Store) -> None:
    app.session_interface = SessionInterface()

    @app.before_request
    def _authorize() -> Response | None:
        needed = required_role(request.endpoint, request.blueprint)
        if needed is None:
            return None
        header = request.headers.get("Authorization", "")
        if header:
            scheme, _, key = header.partition(" ")
            record, g.store_marks = store.check_key(key.strip()) if scheme.lower() == "bearer" else (None, None)
            if record is None:
                return _unauthorized("The API key is not valid (unknown, malformed or revoked).")
        elif request.blueprint == "ui" and session.get("key_id") is not None:
            record = store.live_key(int(session["key_id"]))
            if record is None:
                session.clear()
                return redirect(url_for("ui.login", next=request.full_path))
        elif request.blueprint == "ui":
            return redirect(url_for("ui.login", next=request.full_path))
        else:
            return _unauthorized("Send an API key: Authorization: Bearer <key>.")
        if not allows(record["role"], needed):
            return problem(403, f"The key {record['name']!r} has the role {record['role']!r}; "
                           f"this needs {needed!r}.", slug="forbidden")
        g.actor = record["name"]
        g.role = record["role"]
        return None


def _unauthorized(detail: str) -> Response:
    resp = problem(401, detail, slug="unauthorized")
    resp.headers["WWW-Authenticate"] = 'Bearer realm="kratom-claims"'
    return resp
