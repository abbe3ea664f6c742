"""The moderators' page: the queue and one review, server-rendered over the same store as /v1/reviews.

Every state change is a plain POST form (sign-in and CSRF protection can wrap it
later without touching the templates' flow); keyboard shortcuts are a small
static script that only clicks and ticks what the page already has.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from ..analysis.errors import InputError
from ..analysis.policy import SEVERITIES
from ..analysis.taxonomy import FLAGS, LABELS
from ..api.runtime import actor, current_store
from ..store import Conflict, NotFound, SentenceFix, check_codes
from ..store.schema import REVIEW_STATUSES

bp = Blueprint("ui", __name__, url_prefix="/ui", template_folder="templates", static_folder="static")

PAGE_SIZE = 25
MAX_NOTE = 5000  # the JSON API's limit
STATUS_FILTERS = (*REVIEW_STATUSES, "all")
RISK_FILTERS = tuple(reversed(SEVERITIES))  # high first, as the queue sorts
ACTIONS = {"approve": "Approve", "request_changes": "Request changes", "reject": "Reject"}
DONE = {"approve": "approved", "reject": "rejected", "request_changes": "sent back for changes"}
STATUS_NAMES = {"pending": "Pending", "approved": "Approved", "rejected": "Rejected",
                "changes_requested": "Changes requested", "superseded": "Superseded", "all": "All"}


# -- helpers the templates use ------------------------------------------------------------------


def ago(iso: str | None, now: datetime | None = None) -> str:
    """'3 min ago' from the store's ISO timestamps: moderators care about age, not the clock."""
    if not iso:
        return ""
    try:
        then = datetime.fromisoformat(iso)
    except ValueError:
        return iso  # a page is better with a raw timestamp than with an error
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    seconds = ((now or datetime.now(UTC)) - then).total_seconds()
    if seconds < 45:
        return "just now"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min ago"
    hours = round(seconds / 3600)
    if hours < 24:
        return f"{hours} h ago"
    days = round(seconds / 86400)
    if days < 60:
        return "1 day ago" if days == 1 else f"{days} days ago"
    return f"{round(days / 30)} months ago"


def pretty(code: str) -> str:
    """A label or flag code as words ('disease_claim' -> 'disease claim')."""
    return code.replace("_", " ")


@bp.context_processor
def _helpers() -> dict[str, Any]:
    return {"ago": ago, "pretty": pretty, "status_name": lambda s: STATUS_NAMES.get(s, s), "actor": actor(),
            "LABELS": LABELS, "FLAGS": FLAGS}


# -- the review, shaped for the template --------------------------------------------------------


@dataclass
class Segment:
    """A run of sentence text; ``codes`` are the flags whose evidence covers it (empty: plain text)."""

    text: str
    codes: tuple[str, ...] = ()
    severity: str = "none"


@dataclass
class SentenceView:
    index: int
    text: str
    origin: str
    segments: list[Segment]
    labels: list[str]
    flags: list[dict[str, Any]]
    severity: str  # the highest of its flags', "none" when unflagged
    checked_labels: tuple[str, ...]  # what the checkboxes start from
    checked_flags: tuple[str, ...]
    correction: Mapping[str, Any] | None  # a moderator's earlier correction the analysis already applied
    corrected_here: Mapping[str, Any] | None  # this review's latest correction of the sentence
    evidence_missing: list[str] = field(default_factory=list)


def _highest(severities: Sequence[str]) -> str:
    return max(severities, key=SEVERITIES.index, default="none")


def _locate(sentence: Mapping[str, Any], evidence: Mapping[str, Any], fmt: str) -> tuple[int, int] | None:
    """Where an evidence span falls in the sentence's text.

    Offsets index the submitted source (for HTML, the markup), so they are used
    directly only when they quote the same words; otherwise the quoted text is found.
    """
    text = sentence["text"]
    a, b = evidence["start"] - sentence["start"], evidence["end"] - sentence["start"]
    if fmt == "text" and 0 <= a < b <= len(text) and text[a:b] == evidence["text"]:
        return a, b
    quoted = " ".join(str(evidence["text"]).split())
    at = text.find(quoted) if quoted else -1
    return (at, at + len(quoted)) if at >= 0 else None


def _segments(sentence: Mapping[str, Any], fmt: str) -> tuple[list[Segment], list[str]]:
    """Split a sentence at its evidence spans so each span can be a <mark>; also the quotes not found."""
    text = sentence["text"]
    spans: list[tuple[int, int, str, str]] = []
    missing = []
    for flag in sentence["flags"]:
        for ev in flag["evidence"]:
            where = _locate(sentence, ev, fmt)
            if where is None:
                missing.append(ev["text"])
            else:
                spans.append((*where, flag["code"], flag["severity"]))
    cuts = sorted({0, len(text), *(a for a, _, _, _ in spans), *(b for _, b, _, _ in spans)})
    out: list[Segment] = []
    for a, b in pairwise(cuts):
        covering = [(code, sev) for x, y, code, sev in spans if x <= a and b <= y]
        codes = tuple(dict.fromkeys(code for code, _ in covering))
        seg = Segment(text[a:b], codes, _highest([sev for _, sev in covering]))
        if out and out[-1].codes == seg.codes:
            out[-1].text += seg.text
        else:
            out.append(seg)
    return out, missing


def _canonical(labels: Sequence[str], flags: Sequence[str]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return tuple(x for x in LABELS if x in labels), tuple(x for x in FLAGS if x in flags)


def current_values(review: Mapping[str, Any]) -> dict[int, tuple[tuple[str, ...], tuple[str, ...]]]:
    """Each sentence's labels and flags as the page shows them: the analysis, then this review's
    latest correction. A decision sends a correction only where the checkboxes differ from these,
    so re-deciding a review neither repeats nor silently keeps an earlier correction."""
    sentences = (review.get("analysis") or {}).get("sentences") or []
    values = {s["index"]: _canonical(s["labels"], [f["code"] for f in s["flags"]]) for s in sentences}
    for c in review.get("corrections") or []:  # oldest first: the latest wins
        if c.get("sentence_index") in values:
            values[c["sentence_index"]] = _canonical(c["labels"], c["flags"])
    return values


def sentence_views(review: Mapping[str, Any]) -> list[SentenceView]:
    analysis = review.get("analysis") or {}
    fmt = review.get("format") or "text"
    values = current_values(review)
    latest = {c["sentence_index"]: c for c in review.get("corrections") or [] if c.get("sentence_index") is not None}
    out = []
    for s in analysis.get("sentences") or []:
        segments, missing = _segments(s, fmt)
        labels, flags = values[s["index"]]
        out.append(SentenceView(
            index=s["index"], text=s["text"], origin=s.get("origin", "body"), segments=segments,
            labels=list(s["labels"]), flags=list(s["flags"]), severity=_highest([f["severity"] for f in s["flags"]]),
            checked_labels=labels, checked_flags=flags, correction=s.get("correction"),
            corrected_here=latest.get(s["index"]), evidence_missing=missing,
        ))
    return out


def corrections_from_form(review: Mapping[str, Any], form: MultiDict[str, str]) -> list[SentenceFix]:
    """Sentence corrections for the sentences whose checkboxes differ from what the page showed.

    Only sentences the form lists in ``sentence`` count, so a form that lacks a
    sentence's checkboxes never reads as "untick everything".
    """
    values = current_values(review)
    fixes = []
    for raw in dict.fromkeys(form.getlist("sentence")):
        if not raw.isdigit() or int(raw) not in values:
            purged = review.get("text") is None
            raise InputError(f"review {review['id']} has no sentence {raw!r}"
                             + ("; its text was purged, so decide without corrections" if purged else ""))
        i = int(raw)
        labels, flags = form.getlist(f"labels-{i}"), form.getlist(f"flags-{i}")
        check_codes(labels, flags)  # before _canonical, which would drop unknown codes silently
        chosen = _canonical(labels, flags)
        if chosen != values[i]:
            fixes.append(SentenceFix(i, *chosen))
    return fixes


# -- pages --------------------------------------------------------------------------------------


@bp.get("/")
def queue() -> tuple[str, int]:
    """The queue, highest risk first, oldest first within a level (the store's order)."""
    status = request.args.get("status") or "pending"
    risk = request.args.get("risk") or None
    cursor = request.args.get("cursor") or None
    error, code = None, 200
    items: list[dict[str, Any]] = []
    nxt = None
    if status not in STATUS_FILTERS:
        error, code = f"There is no status {status!r}; showing pending reviews.", 400
        status = "pending"
    if risk is not None and risk not in RISK_FILTERS:
        error, code = f"There is no risk level {risk!r}; showing every level.", 400
        risk = None
    try:
        items, nxt = current_store().list_reviews(status=None if status == "all" else status, risk=risk,
                                                  cursor=cursor, limit=PAGE_SIZE)
    except InputError:
        error, code = "That page link is no longer valid; here is the first page.", 400
        items, nxt = current_store().list_reviews(status=None if status == "all" else status, risk=risk,
                                                  limit=PAGE_SIZE)
        cursor = None
    filters = {"status": status, "risk": risk}
    return render_template(
        "ui/queue.html", items=items, next_cursor=nxt, cursor=cursor, filters=filters, error=error,
        statuses=STATUS_FILTERS, risks=RISK_FILTERS,
    ), code


@bp.get("/reviews/<int:review_id>")
def review(review_id: int) -> tuple[str, int]:
    """One review: the document sentence by sentence, the correction checkboxes and the decision."""
    try:
        found = current_store().get_review(review_id)
    except NotFound:
        return not_found(review_id)
    return render_review(found)


@bp.post("/reviews/<int:review_id>/decision")
def decide(review_id: int) -> Response | tuple[str, int]:
    """Record a decision from the review form; on success go on to the next pending review."""
    store = current_store()
    try:
        found = store.get_review(review_id)
    except NotFound:
        return not_found(review_id)
    form = request.form
    action = form.get("action", "")
    note = form.get("note", "")
    version = form.get("version", "")
    if action not in ACTIONS:
        return render_review(found, error="Choose approve, reject or request changes.", note=note, code=400)
    if not version.isdigit():
        return render_review(found, error="The form did not say which version of the review you read; "
                             "decide again from this page.", note=note, code=400)
    if len(note) > MAX_NOTE:
        return render_review(found, error=f"The note is longer than {MAX_NOTE} characters.", note=note, code=400)
    try:
        fixes = corrections_from_form(found, form)
        store.decide(review_id, action, actor=actor(), note=note, corrections=fixes, version=int(version))
    except Conflict:
        return render_conflict(review_id, note)
    except InputError as exc:
        return render_review(found, error=f"Nothing was saved: {exc}.", note=note, code=422)
    except NotFound:
        return not_found(review_id)
    what = f"Review #{review_id}" + (f" ({found['document_id']})" if found["document_id"] else "")
    fixed = f" with {len(fixes)} sentence correction{'s' if len(fixes) != 1 else ''}" if fixes else ""
    flash(f"{what} {DONE[action]}{fixed}.", "success")
    pending, _ = store.list_reviews(status="pending", limit=1)
    if pending:
        return redirect(url_for("ui.review", review_id=pending[0]["id"]), code=303)
    flash("The queue is empty.", "info")
    return redirect(url_for("ui.queue"), code=303)


def render_conflict(review_id: int, note: str) -> tuple[str, int]:
    """Someone decided first: show what the review is now, keep the moderator's note, save nothing."""
    try:
        now = current_store().get_review(review_id)
    except NotFound:
        return not_found(review_id)
    if now["status"] == "superseded":
        message = (f"Review #{review_id} was superseded by review #{now['superseded_by']} (the document was "
                   "submitted again) while you had it open. Your decision was not saved.")
    else:
        by = f" by {now['decided_by']}" if now["decided_by"] else ""
        message = (f"Someone else decided this review while you had it open: it is now "
                   f"{STATUS_NAMES.get(now['status'], now['status']).lower()}{by} "
                   f"({ago(now['decided_at'] or now['updated_at'])}). Your decision was not saved. "
                   "Below is the review as it stands; decide again if you still disagree.")
    return render_review(now, conflict=message, note=note, code=409)


def render_review(found: Mapping[str, Any], *, error: str | None = None, conflict: str | None = None,
                  note: str = "", code: int = 200) -> tuple[str, int]:
    policy = current_app.extensions["analyzers"].policy
    return render_template(
        "ui/review.html", review=found, sentences=sentence_views(found), error=error, conflict=conflict,
        note=note, actions=ACTIONS, doc_flags=(found.get("analysis") or {}).get("flags") or [],
        label_help=dict(policy.label_descriptions), flag_help={r.code: r.description for r in policy.rules},
    ), code


def not_found(review_id: int) -> tuple[str, int]:
    return render_template("ui/not_found.html", review_id=review_id), 404
