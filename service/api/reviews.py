"""The moderators' queue: reviews, decisions, sentence feedback and its export for training."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, jsonify, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from ..analysis.policy import SEVERITIES
from ..analysis.taxonomy import FLAGS, LABELS
from ..store import SentenceFix
from ..store.schema import DECISION_STATUS, REVIEW_STATUSES
from .moderate import ModerateResponseSchema, RiskSchema
from .runtime import actor, current_store

blp = Blueprint("reviews", __name__, url_prefix="/v1",
                description="The moderators' review queue, decisions and sentence corrections.")

LabelList = fields.List(fields.String(validate=validate.OneOf(LABELS)), required=True)
FlagList = fields.List(fields.String(validate=validate.OneOf(FLAGS)), required=True)


class ReviewQuerySchema(Schema):
    status = fields.String(load_default="pending", validate=validate.OneOf([*REVIEW_STATUSES, "all"]))
    risk = fields.String(load_default=None, validate=validate.OneOf(SEVERITIES))
    cursor = fields.String(load_default=None, validate=validate.Length(max=200))
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))


class ReviewSummarySchema(Schema):
    id = fields.Integer(required=True)
    document_id = fields.String(allow_none=True, required=True)
    status = fields.String(required=True, validate=validate.OneOf(REVIEW_STATUSES))
    version = fields.Integer(required=True, metadata={"description": "Send it back with a decision."})
    risk = fields.Nested(RiskSchema, required=True)
    flags = fields.List(fields.String(), required=True)
    model_version = fields.String(required=True)
    policy_version = fields.String(required=True)
    created_at = fields.String(required=True)
    updated_at = fields.String(required=True)


class ReviewPageSchema(Schema):
    items = fields.List(fields.Nested(ReviewSummarySchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class DecisionRecordSchema(Schema):
    id = fields.Integer(required=True)
    action = fields.String(required=True)
    note = fields.String(required=True)
    decided_by = fields.String(required=True)
    review_version = fields.Integer(required=True)
    created_at = fields.String(required=True)


class CorrectionSchema(Schema):
    id = fields.Integer(required=True)
    text = fields.String(required=True)
    labels = fields.List(fields.String(), required=True)
    flags = fields.List(fields.String(), required=True)
    source = fields.String(required=True)
    review_id = fields.Integer(allow_none=True, required=True)
    sentence_index = fields.Integer(allow_none=True, required=True)
    note = fields.String(required=True)
    created_by = fields.String(required=True)
    created_at = fields.String(required=True)


class ReviewSchema(ReviewSummarySchema):
    text = fields.String(allow_none=True, required=True, metadata={"description": "null once purged"})
    format = fields.String(required=True)
    analysis = fields.Nested(ModerateResponseSchema, allow_none=True, required=True)
    decided_at = fields.String(allow_none=True, required=True)
    decided_by = fields.String(allow_none=True, required=True)
    superseded_by = fields.Integer(allow_none=True, required=True)
    purged_at = fields.String(allow_none=True, required=True)
    decisions = fields.List(fields.Nested(DecisionRecordSchema), required=True)
    corrections = fields.List(fields.Nested(CorrectionSchema), required=True)


class SentenceCorrectionSchema(Schema):
    sentence_index = fields.Integer(required=True, validate=validate.Range(min=0))
    labels = LabelList
    flags = FlagList


class DecisionSchema(Schema):
    action = fields.String(required=True, validate=validate.OneOf(list(DECISION_STATUS)))
    note = fields.String(load_default="", validate=validate.Length(max=5000))
    version = fields.Integer(
        load_default=None, allow_none=True,
        metadata={"description": "The review's version as you read it. Required to change a decided review; "
                  "a stale version is a 409."},
    )
    corrections = fields.List(fields.Nested(SentenceCorrectionSchema), load_default=list,
                              validate=validate.Length(max=5000))


class FeedbackSchema(Schema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=2000))
    labels = LabelList
    flags = FlagList
    note = fields.String(load_default="", validate=validate.Length(max=5000))


@blp.route("/reviews")
class Reviews(MethodView):
    @blp.arguments(ReviewQuerySchema, location="query")
    @blp.response(200, ReviewPageSchema)
    @blp.alt_response(422, description="Invalid filter or cursor")
    def get(self, query: dict[str, Any]):
        """The queue: highest risk first, oldest first within a level; follow `next_cursor` for more."""
        items, nxt = current_store().list_reviews(
            status=None if query["status"] == "all" else query["status"], risk=query["risk"],
            cursor=query["cursor"], limit=query["limit"])
        return jsonify(items=items, next_cursor=nxt)


@blp.route("/reviews/<int:review_id>")
class ReviewItem(MethodView):
    @blp.response(200, ReviewSchema)
    @blp.alt_response(404, description="No such review")
    def get(self, review_id: int):
        """One review: the document, its analysis, decisions and corrections."""
        return jsonify(current_store().get_review(review_id))


@blp.route("/reviews/<int:review_id>/decision")
class ReviewDecision(MethodView):
    @blp.arguments(DecisionSchema)
    @blp.response(200, ReviewSchema)
    @blp.alt_response(404, description="No such review")
    @blp.alt_response(409, description="Already decided, superseded, or a stale version")
    @blp.alt_response(422, description="Invalid action, labels, flags or sentence index")
    def post(self, body: dict[str, Any], review_id: int):
        """Approve, reject or request changes, with sentence corrections that take effect at once."""
        fixes = [SentenceFix(c["sentence_index"], tuple(c["labels"]), tuple(c["flags"])) for c in body["corrections"]]
        return jsonify(current_store().decide(review_id, body["action"], actor=actor(), note=body["note"],
                                              corrections=fixes, version=body["version"]))


@blp.route("/feedback")
class Feedback(MethodView):
    @blp.arguments(FeedbackSchema)
    @blp.response(201, CorrectionSchema)
    @blp.alt_response(422, description="Invalid labels or flags")
    def post(self, body: dict[str, Any]):
        """Correct one sentence outside a review; it takes effect at once."""
        stored = current_store().add_feedback(body["text"], body["labels"], body["flags"], actor=actor(),
                                              note=body["note"])
        return jsonify(stored), 201


@blp.route("/feedback/export")
class FeedbackExport(MethodView):
    @blp.response(200, description="JSON Lines: `{id, doc_id, text, labels, flags, style, source}` per sentence, "
                  "the latest correction of each; the training format (`training.train --extra`).",
                  content_type="application/x-ndjson")
    def get(self):
        """Every corrected sentence, for retraining."""
        rows = current_store().export_feedback()

        def lines():
            for row in rows:
                yield json.dumps(row, ensure_ascii=False) + "\n"

        return Response(stream_with_context(lines()), mimetype="application/x-ndjson",
                        headers={"Content-Disposition": 'attachment; filename="feedback.jsonl"'})

