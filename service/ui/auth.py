"""Signing in to the moderators' page: a key once, then a session cookie guarded by CSRF tokens."""

from __future__ import annotations

from flask import Flask, flash, redirect, render_template, request, session, url_for
from flask_wtf.csrf import CSRFProtect
from werkzeug.wrappers import Response

from ..access import allows
from ..api.runtime import current_store
from .views import bp

csrf = CSRFProtect()


@bp.before_request
def _check_csrf() -> None:
    """Forms posted with the session cookie need the page's CSRF token. Requests that carry an
    ``Authorization`` header are not at risk (a browser never adds one by itself)."""
    if request.method == "POST" and "Authorization" not in request.headers:
        csrf.protect()


def _safe_next(target: str | None) -> str:
    """Only redirect within the moderators' page (no open redirect)."""
    if target and target.startswith("/ui/") and not target.startswith("//"):
        return target
    return url_for("ui.queue")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int]:
    """Sign in with a moderator or admin key."""
    error = None
    if request.method == "POST":
        record = current_store().verify_key(request.form.get("key", "").strip())
        if record is None:
            error = "That key is not valid (unknown, mistyped or revoked)."
        elif not allows(record["role"], "moderator"):
            error = f"The key {record['name']!r} is a {record['role']} key; the moderators' page needs a " \
                    "moderator or admin key."
        else:
            session.clear()
            session["key_id"] = record["id"]
            flash(f"Signed in as {record['name']}.", "ok")
            return redirect(_safe_next(request.args.get("next")), code=303)
    return render_template("ui/login.html", error=error), 401 if error else 200


@bp.post("/logout")
def logout() -> Response:
    session.clear()
    flash("Signed out.", "ok")
    return redirect(url_for("ui.login"), code=303)


def init_csrf(app: Flask) -> None:
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)  # only the page's forms, not the JSON API
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid for the session's life
    csrf.init_app(app)
