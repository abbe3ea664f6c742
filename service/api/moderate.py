"""POST /v1/moderate and /v1/moderate/batch: documents in, labels, flags and a verdict out."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, jsonify
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ..analysis.analyzer import Analysis, Document
from ..analysis.errors import InputError, LimitExceeded
from ..analysis.policy import SEVERITIES
from ..analysis.taxonomy import FLAGS, LABELS
from .runtime import actor, analyzer_for, current_store, observe, provider

blp = Blueprint(
    "moderate", __name__, url_prefix="/v1",
    description="Analyse documents. Offsets (`start`, `end`) are Python code points into the "
    "submitted `text` (for HTML, into the HTML source); a JavaScript CMS counting UTF-16 code "
    "units must convert them for characters outside the Basic Multilingual Plane (emoji).",
)

MAX_TEXT = 200_000


class ModerateRequestSchema(Schema):
    text = fields.String(required=True, validate=validate.Length(min=1, max=MAX_TEXT),
                         metadata={"description": "Plain text or HTML, 1 to 200000 characters."})
    format = fields.String(load_default="text", validate=validate.OneOf(["text", "html"]))
    document_id = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))
    model_version = fields.String(
        load_default=None, allow_none=True, validate=validate.Length(min=1, max=100),
        metadata={"description": "Pin a model version (see GET /v1/model); default: the active one."},
    )
    review = fields.Boolean(
        load_default=False,
        metadata={"description": "Queue the result for moderators whatever its risk. Documents with a "
                  "`document_id` are queued anyway from the service's review level (default `high`)."},
    )
    store = fields.Boolean(
        load_default=True,
        metadata={"description": "`false`: nothing of this request is kept (drafts), whatever the risk."},
    )

    @validates_schema
    def _text_not_blank(self, data: dict[str, Any], **_: Any) -> None:
        if "text" in data and not data["text"].strip():
            raise ValidationError("Text must contain something other than white space.", "text")

    @validates_schema
    def _review_needs_store(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("review") and data.get("store") is False:
            raise ValidationError("A review keeps the text; it cannot be asked for with store: false.", "review")


class BatchRequestSchema(Schema):
    documents = fields.List(fields.Nested(ModerateRequestSchema), required=True,
                            validate=validate.Length(min=1, max=100))


class EvidenceSchema(Schema):
    start = fields.Integer(required=True)
    end = fields.Integer(required=True)
    text = fields.String(required=True)


class SentenceFlagSchema(Schema):
    code = fields.String(required=True, validate=validate.OneOf(FLAGS))
    severity = fields.String(required=True, validate=validate.OneOf(SEVERITIES[1:]))
    message = fields.String(required=True)
    source = fields.String(
        required=True, validate=validate.OneOf(["policy", "term_list", "feedback"]),
        metadata={"description": "What raised it: `policy` (cues and model), `term_list` (a publisher's "
                  "term), `feedback` (a moderator's correction of this sentence)."},
    )
    evidence = fields.List(fields.Nested(EvidenceSchema), required=True)


class DocumentFlagSchema(Schema):
    code = fields.String(required=True)
    severity = fields.String(required=True, validate=validate.OneOf(SEVERITIES[1:]))
    message = fields.String(required=True)


class CorrectionMarkSchema(Schema):
    id = fields.Integer(required=True, metadata={"description": "The moderator's correction."})
    model_labels = fields.List(fields.String(), required=True,
                               metadata={"description": "What the model and policy said before it."})
    model_flags = fields.List(fields.String(), required=True)


class SentenceSchema(Schema):
    index = fields.Integer(required=True)
    start = fields.Integer(required=True)
    end = fields.Integer(required=True)
    text = fields.String(required=True)
    origin = fields.String(required=True, validate=validate.OneOf(["body", "title", "meta", "alt"]),
                           metadata={"description": "Where an HTML sentence was found."})
    labels = fields.List(fields.String(validate=validate.OneOf(LABELS)), required=True)
    scores = fields.Dict(keys=fields.String(), values=fields.Float(), required=True)
    flags = fields.List(fields.Nested(SentenceFlagSchema), required=True)
    correction = fields.Nested(
        CorrectionMarkSchema, allow_none=True, required=True,
        metadata={"description": "Set where a moderator's correction of this sentence replaced the "
                  "model's labels and flags; null where the model agrees or nobody corrected it."},
    )


class ReviewRefSchema(Schema):
    id = fields.Integer(required=True)
    status = fields.String(required=True)
    version = fields.Integer(required=True)


class NameVersionSchema(Schema):
    name = fields.String(required=True)
    version = fields.String(required=True)


class PolicyVersionSchema(Schema):
    version = fields.String(required=True)


class RiskSchema(Schema):
    level = fields.String(required=True, validate=validate.OneOf(SEVERITIES))
    score = fields.Float(required=True, validate=validate.Range(0, 1))


class SummarySchema(Schema):
    sentences = fields.Integer(required=True)
    labels = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    flags = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class ModerateResponseSchema(Schema):
    document_id = fields.String(allow_none=True, required=True)
    model = fields.Nested(NameVersionSchema, required=True)
    policy = fields.Nested(PolicyVersionSchema, required=True)
    flagged = fields.Boolean(required=True)
    risk = fields.Nested(RiskSchema, required=True)
    summary = fields.Nested(SummarySchema, required=True)
    flags = fields.List(fields.Nested(DocumentFlagSchema), required=True)
    sentences = fields.List(fields.Nested(SentenceSchema), required=True)
    warnings = fields.List(fields.String(), required=True)
    review = fields.Nested(ReviewRefSchema, allow_none=True, required=True,
                           metadata={"description": "The review this document was queued as, or null."})


class BatchResponseSchema(Schema):
    results = fields.List(fields.Nested(ModerateResponseSchema), required=True)


def analysis_body(analysis: Analysis, document_id: str | None) -> dict[str, Any]:
    """Serialise an analysis (plain dicts: faster than a schema dump, same shape)."""
    return {
        "document_id": document_id,
        "model": {"name": analysis.model_name, "version": analysis.model_version},
        "policy": {"version": analysis.policy_version},
        "flagged": analysis.flagged,
        "risk": {"level": analysis.risk_level, "score": analysis.risk_score},
        "summary": analysis.summary,
        "flags": [{"code": f.code, "severity": f.severity, "message": f.message} for f in analysis.flags],
        "sentences": [
            {
                "index": s.index, "start": s.start, "end": s.end, "text": s.text,
                "origin": s.origin, "labels": list(s.labels), "scores": s.scores,
                "flags": [
                    {"code": f.code, "severity": f.severity, "message": f.message,
                     "source": f.source,
                     "evidence": [{"start": e.start, "end": e.end, "text": e.text} for e in f.evidence]}
                    for f in s.flags
                ],
                "correction": None if s.correction is None else {
                    "id": s.correction.id, "model_labels": list(s.model_labels),
                    "model_flags": list(s.model_flags),
                },
            }
            for s in analysis.sentences
        ],
        "warnings": list(analysis.warnings),
        "review": None,
    }


def _check_length(doc: dict[str, Any], pointer: str) -> None:
    limit = current_app.config["MAX_TEXT_CHARS"]
    if len(doc["text"]) > limit:
        exc = LimitExceeded(f"the text has {len(doc['text'])} characters; at most {limit} "
                            "are accepted", limit="text_chars", value=len(doc["text"]), maximum=limit)
        exc.pointer = pointer
        raise exc


def _run(docs: list[dict[str, Any]], pointer: str) -> list[dict[str, Any]]:
    """Analyse documents, grouping those that use the same model into one call.

    Every document is extracted and segmented, and the request's sentence limits checked,
    before any is scored. ``pointer`` names a document in errors ("/documents/{}").
    """
    groups: dict[str | None, list[int]] = {}
    for i, doc in enumerate(docs):
        groups.setdefault(doc.get("model_version"), []).append(i)
    analyzer_of = {version: analyzer_for(version) for version in groups}  # one for both steps
    prepared = {}
    counted = 0
    for version, idx in groups.items():
        try:
            prepared[version] = analyzer_of[version].prepare(
                [Document(docs[i]["text"], docs[i]["format"]) for i in idx], counted=counted)
        except InputError as exc:
            if exc.document is not None:
                exc.pointer = pointer.format(idx[exc.document])
            raise
        counted += sum(len(p.spans) for p in prepared[version])
    store = current_store()
    review_level = current_app.config["REVIEW_LEVEL"]
    results: list[dict[str, Any]] = [{} for _ in docs]
    queue: list[int] = []  # documents to queue for review
    analyzers = provider()
    analyzers.sync(g.get("store_marks"))  # terms and corrections as of this request (read with its key)
    for version, idx in groups.items():
        analyses = analyzer_of[version].score(prepared[version], terms=analyzers.terms,
                                              corrections=analyzers.corrections)
        for i, analysis in zip(idx, analyses, strict=True):
            results[i] = analysis_body(analysis, docs[i].get("document_id"))
            if docs[i]["store"] and (docs[i]["review"] or _at_review_level(docs[i], analysis, review_level)):
                queue.append(i)
            observe(analysis)
    if queue:  # the whole request's reviews in one transaction
        refs = store.enqueue_many([(results[i], docs[i]["text"], docs[i]["format"]) for i in queue], actor())
        for i, ref in zip(queue, refs, strict=True):
            results[i]["review"] = ref
    return results


def _at_review_level(doc: dict[str, Any], analysis: Analysis, level: str) -> bool:
    return (doc.get("document_id") is not None and level != "none"
            and SEVERITIES.index(analysis.risk_level) >= SEVERITIES.index(level))


@blp.route("/moderate")
class Moderate(MethodView):
    @blp.arguments(ModerateRequestSchema)
    @blp.response(200, ModerateResponseSchema)
    @blp.alt_response(400, description="Malformed JSON")
    @blp.alt_response(413, description="Body, text or sentence count over a limit (`limit` names it, "
                      "`pointer` the document)")
    @blp.alt_response(415, description="Content-Type is not application/json")
    @blp.alt_response(422, description="Validation error naming the fields")
    def post(self, doc: dict[str, Any]):
        """Analyse one document."""
        _check_length(doc, "/text")
        return jsonify(_run([doc], "/text")[0])


@blp.route("/moderate/batch")
class ModerateBatch(MethodView):
    @blp.arguments(BatchRequestSchema)
    @blp.response(200, BatchResponseSchema)
    @blp.alt_response(400, description="Malformed JSON")
    @blp.alt_response(413, description="Body, text or sentence count over a limit (`limit` names it, "
                      "`pointer` the document)")
    @blp.alt_response(415, description="Content-Type is not application/json")
    @blp.alt_response(422, description="Validation error naming the fields")
    def post(self, body: dict[str, Any]):
        """Analyse up to 100 documents in one call; results come back in order."""
        docs = body["documents"]
        limit = current_app.config["MAX_BATCH_DOCUMENTS"]
        if len(docs) > limit:
                raise LimitExceeded(f"the batch has {len(docs)} documents; at most {limit} are accepted",
                                limit="batch_documents", value=len(docs), maximum=limit)
        for i, doc in enumerate(docs):
            _check_length(doc, f"/documents/{i}/text")
        return jsonify({"results": _run(docs, "/documents/{}/text")})
