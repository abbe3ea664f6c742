"""One error shape for every failure: RFC 9457 problem details (application/problem+json)."""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response, current_app, g, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from .analysis.errors import InputError, LimitExceeded, ModelError
from .store import Conflict, NotFound

PROBLEM_TYPE = "https://kratom-claims.invalid/problems/"
log = logging.getLogger("service.errors")

# Domain errors -> HTTP status, in one table.
STATUS_OF: tuple[tuple[type[Exception], int], ...] = (
    (LimitExceeded, 413),
    (InputError, 422),
    (ModelError, 503),
    (NotFound, 404),
    (Conflict, 409),
    (OperationalError, 503),  # the database is unreachable or overloaded
)
_TITLES = {
    400: "Bad request", 401: "Unauthorized", 403: "Forbidden", 404: "Not found",
    405: "Method not allowed", 409: "Conflict", 413: "Payload too large",
    415: "Unsupported media type", 422: "Unprocessable content", 429: "Too many requests",
    500: "Internal server error", 503: "Service unavailable",
}


def problem(status: int, detail: str, *, slug: str | None = None, **extra: Any) -> Response:
    """Build a problem+json response."""
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + (slug or str(status)),
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.path if request else None,
    }
    request_id = g.get("request_id") if g else None
    if request_id:
        body["request_id"] = request_id
    body.update(extra)
    return Response(json.dumps(body), status=status, mimetype="application/problem+json")


def _flatten(messages: Any, pointer: str = "") -> list[dict[str, str]]:
    """Turn webargs/marshmallow messages into [{"pointer", "detail"}] (JSON Pointer)."""
    if isinstance(messages, dict):
        out = []
        for key, value in messages.items():
            out += _flatten(value, f"{pointer}/{key}")
        return out
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [{"pointer": pointer or "/", "detail": m} for m in messages]
    if isinstance(messages, list):
        return [e for m in messages for e in _flatten(m, pointer)]
    return [{"pointer": pointer or "/", "detail": str(messages)}]


def handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages")
    if status == 422 and messages:
        # webargs nests messages under the location ("json"); the pointer is into the body.
        messages = messages.get("json", messages) if isinstance(messages, dict) else messages
        errors = _flatten(messages)
        fields = ", ".join(e["pointer"] for e in errors)
        return problem(422, f"The request body is invalid: {fields}.", slug="validation",
                       errors=errors)
    if status == 400 and messages:
        return problem(400, "The request body is not valid JSON.", slug="malformed-json")
    if status == 413:
        return problem(413, "The request body is larger than this service accepts "
                       f"({_limit()} bytes).", slug="body-too-large", limit="body_bytes")
    if status == 405:
        allowed = sorted(getattr(exc, "valid_methods", None) or [])
        resp = problem(405, f"{request.method} is not allowed here; use {', '.join(allowed)}.")
        if allowed:
            resp.headers["Allow"] = ", ".join(allowed)
        return resp
    if status == 404:
        return problem(404, f"There is nothing at {request.path}.")
    return problem(status, exc.description or _TITLES.get(status, "Error"))


def _limit() -> int:
    return int(current_app.config.get("MAX_CONTENT_LENGTH") or 0)


def handle_domain_error(exc: Exception) -> Response:
    for cls, status in STATUS_OF:
        if isinstance(exc, cls):
            extra: dict[str, Any] = {}
            detail = str(exc)
            if isinstance(exc, LimitExceeded):
                extra = {"limit": exc.limit, "value": exc.value, "maximum": exc.maximum}
            if isinstance(exc, InputError) and exc.pointer:
                # which document of a batch: "/documents/3/text: the document has..."
                extra["pointer"] = exc.pointer
                detail = f"{exc.pointer}: {detail}"
            if isinstance(exc, Conflict):
                extra = {"current_version": exc.current_version, "review_status": exc.status}
            if isinstance(exc, OperationalError):
                log.error("database error on %s %s: %s", request.method, request.path, exc.orig)
                detail = "The review store is unavailable; try again shortly."
            return problem(status, detail, slug=cls.__name__.lower(), **extra)
    return handle_unexpected(exc)


def _from_json_decoder(exc: Exception) -> bool:
    """Whether ``exc`` escaped json.loads: nesting deeper than the recursion limit (RecursionError)
    or an integer over 4300 digits (ValueError) are not JSONDecodeErrors, so webargs let them through."""
    if not isinstance(exc, (RecursionError, ValueError)) or exc.__traceback__ is None:
        return False
    tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_globals.get("__name__", "").startswith("json.")


def handle_unexpected(exc: Exception) -> Response:
    if isinstance(exc, HTTPException):
        return handle_http_exception(exc)
    # Hostile bodies, not server faults (they were 500s): a request body json.loads cannot take...
    if _from_json_decoder(exc):
        return problem(400, "The request body is not valid JSON (nested too deep or a number too long).",
                       slug="malformed-json")
    # ...and a lone surrogate ("\ud800", valid JSON escape) in a field that is then encoded or stored.
    if isinstance(exc, UnicodeEncodeError) and exc.reason == "surrogates not allowed":
        return problem(422, "The request contains a string that is not valid Unicode (a lone surrogate "
                       "such as \\ud800).", slug="invalid-unicode")
    log.exception("unhandled error on %s %s", request.method, request.path)
    return problem(500, "The service failed to handle this request; it has been logged.")


def init_app(app: Flask) -> None:
    """Register the handlers; call after flask-smorest's Api so ours win."""
    app.register_error_handler(HTTPException, handle_http_exception)
    for cls, _ in STATUS_OF:
        app.register_error_handler(cls, handle_domain_error)
    app.register_error_handler(Exception, handle_unexpected)
