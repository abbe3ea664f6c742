"""Publisher term lists and model versions: what admins change while the service runs."""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from ..analysis.adjust import EFFECTS
from ..analysis.classifier import load_model
from ..analysis.errors import ModelError
from ..analysis.taxonomy import FLAGS
from ..store import Conflict, NotFound
from .runtime import actor, current_store, provider

blp = Blueprint("admin", __name__, url_prefix="/v1",
                description="Term lists and model versions; changes reach every worker within seconds.")


class TermInSchema(Schema):
    term = fields.String(required=True, validate=validate.Length(min=1, max=200),
                         metadata={"description": "A word or phrase, matched as whole words after normalisation."})
    flag = fields.String(required=True, validate=validate.OneOf(FLAGS))
    effect = fields.String(required=True, validate=validate.OneOf(EFFECTS),
                           metadata={"description": "`raise` the flag where the term appears, or `suppress` "
                                     "the policy's flag there."})
    note = fields.String(load_default="", validate=validate.Length(max=2000))


class TermSchema(TermInSchema):
    id = fields.Integer(required=True)
    note = fields.String(required=True)
    created_by = fields.String(required=True)
    created_at = fields.String(required=True)


class TermListSchema(Schema):
    items = fields.List(fields.Nested(TermSchema), required=True)


class ModelVersionSchema(Schema):
    name = fields.String(required=True)
    version = fields.String(required=True)
    created_at = fields.String(required=True)
    active = fields.Boolean(required=True, metadata={"description": "The version new requests use."})
    serving = fields.Boolean(required=True, metadata={"description": "The version this worker serves now."})
    metrics = fields.Dict(required=True, metadata={"description": "Held-out metrics from the model card."})


class ModelListSchema(Schema):
    items = fields.List(fields.Nested(ModelVersionSchema), required=True)


@blp.route("/terms")
class Terms(MethodView):
    @blp.response(200, TermListSchema)
    def get(self):
        """Every term in the publisher's lists."""
        return jsonify(items=current_store().terms())

    @blp.arguments(TermInSchema)
    @blp.response(201, TermSchema)
    @blp.alt_response(409, description="The same term already has this effect on this flag")
    @blp.alt_response(422, description="Invalid term, flag or effect")
    def post(self, body: dict[str, Any]):
        """Add a term; every worker applies it from its next request."""
        term = current_store().add_term(body["term"], body["flag"], body["effect"], actor=actor(), note=body["note"])
        provider().refresh(force=True)
        return jsonify(term), 201


@blp.route("/terms/<int:term_id>")
class TermItem(MethodView):
    @blp.response(204)
    @blp.alt_response(404, description="No such term")
    def delete(self, term_id: int):
        """Remove a term."""
        current_store().delete_term(term_id, actor=actor())
        provider().refresh(force=True)
        return "", 204


def _versions() -> list[dict[str, Any]]:
    p = provider()
    registry = p.registry
    active = registry.active_version() if registry else None
    cards = registry.versions() if registry else [p.default.model.card]
    return [{"name": c.get("name", ""), "version": c.get("version", ""), "created_at": c.get("created_at", ""),
             "active": c.get("version") == active, "serving": c.get("version") == p.default.model.version,
             "metrics": c.get("metrics", {})} for c in cards]


@blp.route("/models")
class Models(MethodView):
    @blp.response(200, ModelListSchema)
    def get(self):
        """Model versions in the models directory, newest first, with their held-out metrics."""
        return jsonify(items=_versions())


@blp.route("/models/<string:version>/activate")
class ActivateModel(MethodView):
    @blp.response(200, ModelVersionSchema)
    @blp.alt_response(404, description="No such model version")
    @blp.alt_response(409, description="MODEL_VERSION pins this service to one version")
    @blp.alt_response(503, description="The version's files fail their integrity check")
    def post(self, version: str):
        """Make `version` the active model (activating the previous one is the rollback)."""
        p = provider()
        if current_app.config["MODEL_VERSION"] or p.registry is None:
            raise Conflict("this service is pinned to one model version (MODEL_VERSION); activation is disabled")
        try:
            directory = p.registry.directory(version)
        except ModelError as exc:
            raise NotFound(str(exc)) from exc
        p.keep(load_model(directory))  # refuse what would not load; the switch below reuses it
        previous = p.registry.active_version()
        p.registry.set_active(version)
        current_store().audit(actor(), "model.activate", f"model:{version}", {"previous": previous})
        p.refresh(force=True)
        return jsonify(next(v for v in _versions() if v["version"] == version))
