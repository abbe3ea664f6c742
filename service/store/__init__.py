"""What the service keeps: reviews, decisions, corrections, term lists and an audit trail.

Plain Python over SQLAlchemy (no Flask), so the HTTP layer, the moderators'
page, the CLI and the training export share one implementation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Engine, and_, bindparam, delete, func, or_, select, update
from sqlalchemy import text as sql_text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..analysis.adjust import Correction as SentenceCorrection
from ..analysis.adjust import Term as TermRule
from ..analysis.adjust import TermList, term_pattern
from ..analysis.errors import InputError
from ..analysis.normalize import sentence_key
from ..analysis.policy import SEVERITIES
from ..analysis.taxonomy import FLAGS, LABELS
from .db import READ_ONLY, make_engine, migrate, session_factory
from .schema import (
    DECISION_STATUS,
    ROLES,
    ApiKey,
    AuditEntry,
    Counter,
    Decision,
    Review,
    Term,
    utcnow,
)
from .schema import Correction as CorrectionRow

__all__ = ["Conflict", "Marks", "NotFound", "Store"]

LAST_USED_RESOLUTION = timedelta(minutes=1)


class Marks(NamedTuple):
    """How far the shared state every worker caches has got: the term lists' generation and
    the newest correction's id. Read with the caller's key, in the same query, so a worker
    brings its caches up to date before the request, at no extra round trip."""

    terms: int
    corrections: int


_TERMS_MARK = select(Counter.value).where(Counter.name == "terms").scalar_subquery()
_CORRECTIONS_MARK = select(func.max(CorrectionRow.id)).scalar_subquery()
# The two reads every request may make, built once: building a statement costs more than running it.
_KEY_AND_MARKS = (select(ApiKey.__table__, _TERMS_MARK.label("terms_mark"),
                         _CORRECTIONS_MARK.label("corrections_mark"))
                  .where(ApiKey.prefix == bindparam("prefix")))
_CORRECTIONS_OF = (select(CorrectionRow.id, CorrectionRow.sentence_key, CorrectionRow.labels, CorrectionRow.flags)
                   .where(CorrectionRow.sentence_key.in_(bindparam("keys", expanding=True)))
                   .order_by(CorrectionRow.id))


class NotFound(LookupError):
    """No such review or term."""


class Conflict(Exception):
    """The write would overwrite someone else's: the caller must re-read and retry."""

    def __init__(self, message: str, *, current_version: int | None = None, status: str | None = None) -> None:
        super().__init__(message)
        self.current_version = current_version
        self.status = status


@dataclass(frozen=True)
class SentenceFix:
    """A correction of one sentence of a review."""

    sentence_index: int
    labels: tuple[str, ...]
    flags: tuple[str, ...]


def check_codes(labels: Sequence[str], flags: Sequence[str]) -> None:
    """Refuse labels and flags the taxonomy does not have."""
    bad = [x for x in labels if x not in LABELS] + [x for x in flags if x not in FLAGS]
    if bad:
        raise InputError(f"unknown labels or flags: {', '.join(map(str, bad))}")


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat(timespec="seconds") + "Z" if dt else None


class Store:
    def __init__(self, url: str, engine: Engine | None = None) -> None:
        self.url = url
        self.engine = engine or make_engine(url)
        self._sessions = session_factory(self.engine)
        self._read_engine = self.engine.execution_options(**{READ_ONLY: True})
        self._reads = session_factory(self._read_engine)

    def migrate(self) -> None:
        migrate(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    def session(self) -> Session:
        """A session for a transaction that writes (on SQLite it takes the write lock up front)."""
        return self._sessions()

    def reading(self) -> Session:
        """A session that only reads: on SQLite it takes no lock (see ``db._sqlite_pragmas``)."""
        return self._reads()

    # -- reviews ---------------------------------------------------------------------------

    def enqueue(self, body: Mapping[str, Any], text: str, fmt: str, actor: str) -> dict[str, Any]:
        """Queue an analysis for review; a pending review of the same document is superseded."""
        return self.enqueue_many([(body, text, fmt)], actor)[0]

    def enqueue_many(self, items: Sequence[tuple[Mapping[str, Any], str, str]], actor: str) -> list[dict[str, Any]]:
        """Queue ``(analysis, text, format)`` items in one transaction: a batch is queued whole or
        not at all, so a failure or a killed worker never leaves part of it behind."""
        for attempt in range(3):
            try:
                with self.session() as s, s.begin():
                    if s.bind.dialect.name == "postgresql":
                        # one enqueue per document at a time (SQLite's BEGIN IMMEDIATE already serialises);
                        # taken in one order, so two batches sharing documents cannot deadlock
                        for document_id in sorted({b["document_id"] for b, _, _ in items if b.get("document_id")}):
                            s.execute(sql_text("SELECT pg_advisory_xact_lock(hashtextextended(:d, 17))"),
                                      {"d": document_id})
                    return [self._enqueue(s, body, text, fmt, actor) for body, text, fmt in items]
            except IntegrityError:  # another worker queued the same document at the same moment
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _enqueue(self, s: Session, body: Mapping[str, Any], text: str, fmt: str, actor: str) -> dict[str, Any]:
        document_id = body.get("document_id")
        codes = sorted({f["code"] for sent in body["sentences"] for f in sent["flags"]}
                       | {f["code"] for f in body["flags"]})
        old = None
        if document_id is not None:
            old = s.scalars(select(Review).where(Review.document_id == document_id,
                                                 Review.status == "pending").with_for_update()).first()
            if old is not None:
                old.status = "superseded"
                old.version += 1
                old.updated_at = utcnow()
                s.flush()
        review = Review(
            document_id=document_id, status="pending", risk_level=body["risk"]["level"],
            risk_rank=SEVERITIES.index(body["risk"]["level"]), risk_score=body["risk"]["score"],
            format=fmt, text=text, analysis=dict(body), flag_codes=codes,
            model_version=body["model"]["version"], policy_version=body["policy"]["version"], version=1,
        )
        s.add(review)
        s.flush()
        if old is not None:
            old.superseded_by = review.id
        self._audit(s, actor, "review.enqueue", f"review:{review.id}",
                    {"document_id": document_id, "supersedes": old.id if old else None})
        return {"id": review.id, "status": review.status, "version": review.version}

    def list_reviews(self, *, status: str | None = "pending", risk: str | None = None,
                     cursor: str | None = None, limit: int = 50) -> tuple[list[dict[str, Any]], str | None]:
        """Highest risk first, oldest first within a level; ``cursor`` continues a listing."""
        q = select(Review)
        if status:
            q = q.where(Review.status == status)
        if risk:
            q = q.where(Review.risk_level == risk)
        if cursor:
            rank, created, rid = _decode_cursor(cursor)
            q = q.where(or_(
                Review.risk_rank < rank,
                and_(Review.risk_rank == rank, Review.created_at > created),
                and_(Review.risk_rank == rank, Review.created_at == created, Review.id > rid),
            ))
        q = q.order_by(Review.risk_rank.desc(), Review.created_at, Review.id).limit(limit + 1)
        with self.reading() as s:
            rows = list(s.scalars(q))
        more = len(rows) > limit
        rows = rows[:limit]
        nxt = _encode_cursor(rows[-1]) if more and rows else None
        return [self._summary(r) for r in rows], nxt

    def get_review(self, review_id: int) -> dict[str, Any]:
        with self.reading() as s:
            review = s.get(Review, review_id)
            if review is None:
                raise NotFound(f"there is no review {review_id}")
            decisions = s.scalars(select(Decision).where(Decision.review_id == review_id).order_by(Decision.id))
            corrections = s.scalars(select(CorrectionRow).where(CorrectionRow.review_id == review_id)
                                    .order_by(CorrectionRow.id))
            out = self._summary(review)
            out.update(
                text=review.text, format=review.format, analysis=review.analysis,
                decided_at=_iso(review.decided_at), decided_by=review.decided_by,
                superseded_by=review.superseded_by, purged_at=_iso(review.purged_at),
                decisions=[{"id": d.id, "action": d.action, "note": d.note, "decided_by": d.decided_by,
                            "review_version": d.review_version, "created_at": _iso(d.created_at)}
                           for d in decisions],
                corrections=[self._correction(c) for c in corrections],
            )
            return out

    def decide(self, review_id: int, action: str, *, actor: str, note: str = "",
               corrections: Sequence[SentenceFix] = (), version: int | None = None) -> dict[str, Any]:
        """Record a decision. Optimistic locking: a decided review changes again only when the
        caller names its current ``version``, and two decisions on one version never both land."""
        if action not in DECISION_STATUS:
            raise InputError(f"unknown action {action!r}")
        for fix in corrections:
            check_codes(fix.labels, fix.flags)
        with self.session() as s, s.begin():
            review = s.get(Review, review_id)
            if review is None:
                raise NotFound(f"there is no review {review_id}")
            if review.status == "superseded":
                raise Conflict(f"review {review_id} was superseded by review {review.superseded_by}",
                               current_version=review.version, status=review.status)
            if version is not None and version != review.version:
                raise Conflict(f"review {review_id} is at version {review.version}, not {version}; "
                               "reload it and decide again", current_version=review.version, status=review.status)
            if version is None and review.status != "pending":
                raise Conflict(f"review {review_id} was already decided ({review.status}); send its current "
                               "version to change the decision", current_version=review.version,
                               status=review.status)
            sentences = (review.analysis or {}).get("sentences", [])
            for fix in corrections:
                if not 0 <= fix.sentence_index < len(sentences):
                    raise InputError(f"review {review_id} has no sentence {fix.sentence_index}"
                                     + (" (its text was purged)" if review.purged_at else ""))
            seen = review.version
            now = utcnow()
            done = s.execute(
                update(Review).where(Review.id == review_id, Review.version == seen)
                .values(status=DECISION_STATUS[action], version=seen + 1, decided_at=now, decided_by=actor,
                        updated_at=now)
                .execution_options(synchronize_session=False)
            )
            if done.rowcount != 1:
                raise Conflict(f"review {review_id} changed while this decision was made; reload it",
                               current_version=None, status=None)
            decision = Decision(review_id=review_id, action=action, note=note, decided_by=actor,
                                review_version=seen, created_at=now)
            s.add(decision)
            s.flush()
            for fix in corrections:
                text = sentences[fix.sentence_index]["text"]
                s.add(CorrectionRow(
                    sentence_key=sentence_key(text), text=text, labels=list(fix.labels), flags=list(fix.flags),
                    source="review", review_id=review_id, decision_id=decision.id,
                    sentence_index=fix.sentence_index, note=note, created_by=actor, created_at=now,
                ))
            self._audit(s, actor, "review.decide", f"review:{review_id}",
                        {"action": action, "version": seen, "corrections": len(corrections)})
        return self.get_review(review_id)

    # -- corrections -----------------------------------------------------------------------

    def add_feedback(self, text: str, labels: Sequence[str], flags: Sequence[str], *, actor: str,
                     note: str = "") -> dict[str, Any]:
        """A sentence correction outside a review."""
        check_codes(labels, flags)
        text = " ".join(text.split())
        if not text:
            raise InputError("the sentence is empty")
        with self.session() as s, s.begin():
            row = CorrectionRow(sentence_key=sentence_key(text), text=text,
                                labels=[x for x in LABELS if x in labels], flags=[x for x in FLAGS if x in flags],
                                source="feedback", note=note, created_by=actor)
            s.add(row)
            s.flush()
            self._audit(s, actor, "feedback.add", f"correction:{row.id}", {"key": row.sentence_key})
            return self._correction(row)

    def corrections_for(self, keys: Sequence[str]) -> dict[str, SentenceCorrection]:
        """The latest correction of each of ``keys`` that has one (the analyzer's lookup)."""
        if not keys:
            return {}
        found: dict[str, SentenceCorrection] = {}
        unique = sorted(set(keys))
        with self._read_engine.connect() as s:  # no ORM session: this runs on every request
            for i in range(0, len(unique), 500):
                for cid, key, labels, flags in s.execute(_CORRECTIONS_OF, {"keys": unique[i : i + 500]}):
                    found[key] = SentenceCorrection(cid, tuple(labels), tuple(flags))
        return found

    def export_feedback(self) -> Iterator[dict[str, Any]]:
        """Every corrected sentence, latest correction only, as training rows."""
        latest: dict[str, CorrectionRow] = {}
        with self.reading() as s:
            for row in s.scalars(select(CorrectionRow).order_by(CorrectionRow.id)):
                latest[row.sentence_key] = row
        for row in sorted(latest.values(), key=lambda r: r.id):
            doc = f"feedback-review-{row.review_id}" if row.review_id else f"feedback-{row.id}"
            yield {"id": f"feedback-{row.id}", "doc_id": doc, "text": row.text,
                   "labels": [x for x in LABELS if x in row.labels], "flags": [x for x in FLAGS if x in row.flags],
                   "style": "moderator", "source": row.source, "corrected_at": _iso(row.created_at)}

    # -- term lists ------------------------------------------------------------------------

    def terms(self) -> list[dict[str, Any]]:
        with self.reading() as s:
            return [self._term(t) for t in s.scalars(select(Term).order_by(Term.id))]

    def add_term(self, term: str, flag: str, effect: str, *, actor: str, note: str = "") -> dict[str, Any]:
        term = " ".join(term.split())
        if flag not in FLAGS:
            raise InputError(f"unknown flag {flag!r}")
        try:
            term_pattern(term)
        except ValueError as exc:
            raise InputError(f"term {term!r}: {exc}") from exc
        try:
            with self.session() as s, s.begin():
                row = Term(term=term, flag=flag, effect=effect, note=note, created_by=actor)
                s.add(row)
                s.flush()
                self._bump(s, "terms")
                self._audit(s, actor, "term.add", f"term:{row.id}", {"term": term, "flag": flag, "effect": effect})
                return self._term(row)
        except IntegrityError as exc:
            raise Conflict(f"the term {term!r} already {effect}s {flag}") from exc

    def delete_term(self, term_id: int, *, actor: str) -> None:
        with self.session() as s, s.begin():
            row = s.get(Term, term_id)
            if row is None:
                raise NotFound(f"there is no term {term_id}")
            detail = {"term": row.term, "flag": row.flag, "effect": row.effect}
            s.delete(row)
            self._bump(s, "terms")
            self._audit(s, actor, "term.delete", f"term:{term_id}", detail)

    def marks(self) -> Marks:
        with self._read_engine.connect() as c:
            terms, corrections = c.execute(select(_TERMS_MARK, _CORRECTIONS_MARK)).one()
        return Marks(terms or 0, corrections or 0)

    def corrected_keys(self, after: int = 0) -> tuple[int, set[str]]:
        """The keys of sentences corrected after correction ``after``, and the newest correction's id."""
        with self._read_engine.connect() as c:
            rows = c.execute(select(CorrectionRow.id, CorrectionRow.sentence_key).where(CorrectionRow.id > after))
            newest, keys = after, set()
            for cid, key in rows:
                newest = max(newest, cid)
                keys.add(key)
        return newest, keys

    def term_list(self) -> TermList:
        """The compiled term lists and the generation they were read at, in one snapshot."""
        with self.session() as s, s.begin():
            gen = s.scalar(select(Counter.value).where(Counter.name == "terms")) or 0
            rows = list(s.scalars(select(Term).order_by(Term.id)))
        return TermList([TermRule(t.id, t.term, t.flag, t.effect) for t in rows], generation=gen)

    # -- API keys --------------------------------------------------------------------------

    def create_key(self, name: str, role: str, *, actor: str) -> tuple[dict[str, Any], str]:
        """A new key: returns its record and the key itself, which is not kept and cannot be shown again."""
        if role not in ROLES:
            raise InputError(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        name = name.strip()
        if not name:
            raise InputError("a key needs a name")
        prefix = secrets.token_hex(4)
        secret = secrets.token_urlsafe(32)
        key = f"kc_{prefix}_{secret}"
        salt = secrets.token_hex(16)
        try:
            with self.session() as s, s.begin():
                row = ApiKey(name=name, role=role, prefix=prefix, salt=salt, digest=_digest(salt, key))
                s.add(row)
                s.flush()
                self._audit(s, actor, "key.create", f"key:{row.id}", {"name": name, "role": role})
                return self._key(row), key
        except IntegrityError as exc:
            raise Conflict(f"a key named {name!r} exists") from exc

    def api_keys(self) -> list[dict[str, Any]]:
        with self.reading() as s:
            return [self._key(k) for k in s.scalars(select(ApiKey).order_by(ApiKey.id))]

    def revoke_key(self, ident: int | str, *, actor: str) -> dict[str, Any]:
        """Revoke by id or name; takes effect on the next request (keys are checked on every one)."""
        with self.session() as s, s.begin():
            q = select(ApiKey).where(ApiKey.id == ident if isinstance(ident, int) else ApiKey.name == ident)
            row = s.scalars(q).first()
            if row is None:
                raise NotFound(f"there is no key {ident!r}")
            if row.revoked_at is None:
                row.revoked_at = utcnow()
                self._audit(s, actor, "key.revoke", f"key:{row.id}", {"name": row.name})
            return self._key(row)

    def live_key(self, key_id: int) -> dict[str, Any] | None:
        """The key's record if it exists and is not revoked (the moderators' page re-checks its session)."""
        with self.reading() as s:
            row = s.get(ApiKey, key_id)
            return self._key(row) if row is not None and row.revoked_at is None else None

    def verify_key(self, key: str) -> dict[str, Any] | None:
        """The key's record if ``key`` is a live key, else None. Compares in constant time."""
        return self.check_key(key)[0]

    def check_key(self, key: str) -> tuple[dict[str, Any] | None, Marks | None]:
        """``verify_key``, and the store's ``Marks`` read in the same query (None for a malformed
        or unknown key). The one read of the database every authenticated request makes."""
        parts = key.split("_", 2)
        if len(parts) != 3 or parts[0] != "kc" or len(parts[1]) != 8:
            return None, None
        with self._read_engine.connect() as c:  # no ORM session: this runs on every request
            row = c.execute(_KEY_AND_MARKS, {"prefix": parts[1]}).first()
        if row is None:
            return None, None
        marks = Marks(row.terms_mark or 0, row.corrections_mark or 0)
        if not hmac.compare_digest(row.digest, _digest(row.salt, key)) or row.revoked_at:
            return None, marks
        record = self._key(row)
        now = utcnow()
        if row.last_used_at is None or now - row.last_used_at > LAST_USED_RESOLUTION:
            with self.session() as s, s.begin():  # at most one write per key per minute
                s.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
        return record, marks

    # -- audit, retention ------------------------------------------------------------------

    def audit(self, actor: str, action: str, target: str, detail: Mapping[str, Any]) -> None:
        with self.session() as s, s.begin():
            self._audit(s, actor, action, target, detail)

    def audit_log(self, limit: int = 100) -> list[dict[str, Any]]:
        with self.reading() as s:
            rows = s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit))
            return [{"id": a.id, "at": _iso(a.at), "actor": a.actor, "action": a.action, "target": a.target,
                     "detail": a.detail} for a in rows]

    def purge(self, older_than: timedelta, *, actor: str = "retention") -> int:
        """Delete submitted texts (and the analyses that quote them) older than ``older_than``."""
        cutoff = utcnow() - older_than
        with self.session() as s, s.begin():
            done = s.execute(update(Review).where(Review.created_at < cutoff, Review.purged_at.is_(None))
                             .values(text=None, analysis=None, purged_at=utcnow())
                             .execution_options(synchronize_session=False))
            n = done.rowcount or 0
            self._audit(s, actor, "reviews.purge", "reviews", {"before": _iso(cutoff), "purged": n})
            return n

    def counts(self) -> dict[str, int]:
        with self.reading() as s:
            return {
                "reviews": s.scalar(select(func.count()).select_from(Review)) or 0,
                "decisions": s.scalar(select(func.count()).select_from(Decision)) or 0,
                "corrections": s.scalar(select(func.count()).select_from(CorrectionRow)) or 0,
            }

    def wipe(self) -> None:
        """Delete every row (tests)."""
        with self.session() as s, s.begin():
            for table in (CorrectionRow, Decision, Review, Term, Counter, AuditEntry, ApiKey):
                s.execute(delete(table))

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _audit(s: Session, actor: str, action: str, target: str, detail: Mapping[str, Any]) -> None:
        s.add(AuditEntry(actor=actor, action=action, target=target, detail=dict(detail)))

    @staticmethod
    def _bump(s: Session, name: str) -> None:
        if s.execute(update(Counter).where(Counter.name == name).values(value=Counter.value + 1)).rowcount == 0:
            s.add(Counter(name=name, value=1))

    @staticmethod
    def _summary(r: Review) -> dict[str, Any]:
        return {"id": r.id, "document_id": r.document_id, "status": r.status, "version": r.version,
                "risk": {"level": r.risk_level, "score": r.risk_score}, "flags": list(r.flag_codes),
                "model_version": r.model_version, "policy_version": r.policy_version,
                "created_at": _iso(r.created_at), "updated_at": _iso(r.updated_at)}

    @staticmethod
    def _correction(c: CorrectionRow) -> dict[str, Any]:
        return {"id": c.id, "text": c.text, "labels": list(c.labels), "flags": list(c.flags), "source": c.source,
                "review_id": c.review_id, "sentence_index": c.sentence_index, "note": c.note,
                "created_by": c.created_by, "created_at": _iso(c.created_at)}

    @staticmethod
    def _key(k: Any) -> dict[str, Any]:  # an ApiKey, or a row of its table
        return {"id": k.id, "name": k.name, "role": k.role, "prefix": f"kc_{k.prefix}_",
                "created_at": _iso(k.created_at), "last_used_at": _iso(k.last_used_at),
                "revoked_at": _iso(k.revoked_at)}

    @staticmethod
    def _term(t: Term) -> dict[str, Any]:
        return {"id": t.id, "term": t.term, "flag": t.flag, "effect": t.effect, "note": t.note,
                "created_by": t.created_by, "created_at": _iso(t.created_at)}


def _digest(salt: str, key: str) -> str:
    # Keys are 256-bit random, so a salted SHA-256 resists offline guessing; a slow hash would
    # only add latency to every request.
    return hashlib.sha256(bytes.fromhex(salt) + key.encode()).hexdigest()


def _encode_cursor(r: Review) -> str:
    raw = json.dumps([r.risk_rank, r.created_at.isoformat(), r.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[int, datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        rank, created, rid = json.loads(raw)
        return int(rank), datetime.fromisoformat(created), int(rid)
    except (ValueError, TypeError) as exc:
        raise InputError("the cursor is not one this service returned") from exc
