"""What the service is: taxonomy, active model, health and metrics."""

from __future__ import annotations

from flask import jsonify
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from ..analysis.taxonomy import LABELS
from ..observability import metrics
from .runtime import provider

blp = Blueprint("meta", __name__, description="The taxonomy, the model, health and metrics.")


class LabelSchema(Schema):
    code = fields.String(required=True)
    description = fields.String(required=True)


class FlagSchema(Schema):
    code = fields.String(required=True)
    severity = fields.String(required=True)
    scope = fields.String(required=True, metadata={"description": "`sentence` or `document`"})
    description = fields.String(required=True)


class TaxonomySchema(Schema):
    policy_version = fields.String(required=True)
    labels = fields.List(fields.Nested(LabelSchema), required=True)
    flags = fields.List(fields.Nested(FlagSchema), required=True)
    risk_levels = fields.List(fields.String(), required=True)


class ModelInfoSchema(Schema):
    name = fields.String(required=True)
    version = fields.String(required=True)
    trained_at = fields.String(required=True)
    family = fields.String(required=True)
    training_data = fields.Dict(required=True, metadata={"description": "hash and counts"})
    thresholds = fields.Dict(keys=fields.String(), values=fields.Float(), required=True)
    metrics = fields.Dict(required=True, metadata={"description": "evaluation from the model card"})
    libraries = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    artifact_sha256 = fields.String(required=True)


class StatusSchema(Schema):
    status = fields.String(required=True)
    model_version = fields.String()


@blp.route("/v1/taxonomy")
class Taxonomy(MethodView):
    @blp.response(200, TaxonomySchema)
    def get(self):
        """Claim labels and risk flags with their descriptions and severities."""
        policy = provider().policy
        flags = [{"code": r.code, "severity": r.severity, "scope": "sentence",
                  "description": r.description} for r in policy.rules]
        flags += [{"code": code, "severity": spec["severity"], "scope": "document",
                   "description": spec["message"]} for code, spec in policy.document_flags.items()]
        return {
            "policy_version": policy.version,
            "labels": [{"code": label, "description": policy.label_descriptions.get(label, "")}
                       for label in LABELS],
            "flags": flags,
            "risk_levels": ["none", "low", "medium", "high"],
        }


@blp.route("/v1/model")
class ActiveModel(MethodView):
    @blp.response(200, ModelInfoSchema)
    def get(self):
        """The active model: version, training data, thresholds and evaluation metrics."""
        card = provider().default.model.card
        return {
            "name": card["name"], "version": card["version"], "trained_at": card["created_at"],
            "family": card.get("family", ""), "training_data": card.get("data", {}),
            "thresholds": card["thresholds"], "metrics": card.get("metrics", {}),
            "libraries": card.get("libraries", {}),
            "artifact_sha256": card.get("artifact", {}).get("sha256", ""),
        }


@blp.route("/healthz")
class Health(MethodView):
    @blp.response(200, StatusSchema)
    def get(self):
        """The process is alive (touches nothing)."""
        return jsonify(status="ok")


@blp.route("/readyz")
class Ready(MethodView):
    @blp.response(200, StatusSchema)
    @blp.alt_response(503, description="The model cannot score")
    def get(self):
        """The model is loaded and scores a sentence."""
        analyzer = provider().default
        analyzer.model.predict_proba(["kratom readiness probe"])
        return jsonify(status="ready", model_version=analyzer.model.version)


@blp.route("/metrics")
class PrometheusMetrics(MethodView):
    @blp.response(200, description="Prometheus text format")
    def get(self):
        """Prometheus metrics, aggregated over all gunicorn workers."""
        return metrics().expose()

