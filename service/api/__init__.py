"""The HTTP layer: one blueprint per resource, schemas beside it."""

from __future__ import annotations

from flask import Flask, request
from flask_smorest import Api

from ..errors import problem
from . import admin, keys, meta, moderate, reviews
from .openapi import ProblemApi, ProblemResponses

JSON_TYPES = ("application/json",)


def init_app(app: Flask) -> Api:
    api = ProblemApi(app, spec_kwargs={"info": {"description": _DESCRIPTION},
                                       "extra_plugins": [ProblemResponses()]})
    api.register_blueprint(moderate.blp)
    api.register_blueprint(reviews.blp)
    api.register_blueprint(admin.blp)
    api.register_blueprint(keys.blp)
    api.register_blueprint(meta.blp)

    @app.before_request
    def _require_json():
        # Only a body that is there can be of the wrong type (POST .../activate has none), and only
        # on a route that takes this method: PUT on a POST-only route is a 405, not a 415.
        has_body = bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "")
        if (request.method in ("POST", "PUT", "PATCH") and request.path.startswith("/v1/") and has_body
                and request.routing_exception is None and request.mimetype not in JSON_TYPES):
            return problem(415, "Send the body as JSON with Content-Type: application/json.",
                           slug="unsupported-media-type")
        return None

    return api


_DESCRIPTION = """Health-claim moderation for kratom-related web content.

Send text or HTML; get every sentence with its character offsets, its claim
labels (`efficacy`, `mechanism`, `dosing`, `safety`), its risk flags with
evidence spans, and a document verdict. Offsets are Python code points into
the submitted input. Errors are RFC 9457 problem details
(`application/problem+json`)."""
