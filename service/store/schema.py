"""The tables. Migrations in ``migrations/`` create them; this module is their one description."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy import text as sql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

REVIEW_STATUSES = ("pending", "approved", "rejected", "changes_requested", "superseded")
ROLES = ("client", "moderator", "admin")  # each role may do all the previous one may
DECISION_STATUS = {"approve": "approved", "reject": "rejected", "request_changes": "changes_requested"}


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {dict[str, Any]: JSON, list[Any]: JSON}


class Review(Base):
    """A document waiting for, or given, a moderator's decision."""

    __tablename__ = "reviews"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    document_id: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    risk_level: Mapped[str] = mapped_column(String(10))
    risk_rank: Mapped[int] = mapped_column(Integer)  # 0 none .. 3 high: the queue sorts on it
    risk_score: Mapped[float]
    format: Mapped[str] = mapped_column(String(10))
    text: Mapped[str | None] = mapped_column(Text)  # None once purged
    analysis: Mapped[dict[str, Any] | None]  # the response body; None once purged
    flag_codes: Mapped[list[Any]]  # kept after the purge, for the queue
    model_version: Mapped[str] = mapped_column(String(100))
    policy_version: Mapped[str] = mapped_column(String(100))
    version: Mapped[int] = mapped_column(Integer, default=1)  # optimistic lock
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(200))
    superseded_by: Mapped[int | None] = mapped_column(Integer)
    purged_at: Mapped[datetime | None]

    __table_args__ = (
        Index("ix_reviews_queue", "status", sql("risk_rank DESC"), "created_at", "id"),
        # At most one pending review per document: resubmission supersedes, never duplicates.
        Index("uq_reviews_pending_document", "document_id", unique=True,
              sqlite_where=sql("status = 'pending'"), postgresql_where=sql("status = 'pending'")),
        Index("ix_reviews_created", "created_at"),
    )


class Decision(Base):
    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str] = mapped_column(String(200))
    review_version: Mapped[int] = mapped_column(Integer)  # the version this decision was made on
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Correction(Base):
    """A sentence's labels and flags as a moderator says they should be.

    Kept as training data after the review's text is purged: it holds one
    sentence, not the document.
    """

    __tablename__ = "corrections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sentence_key: Mapped[str] = mapped_column(String(64), index=True)
    text: Mapped[str] = mapped_column(Text)
    labels: Mapped[list[Any]]
    flags: Mapped[list[Any]]
    source: Mapped[str] = mapped_column(String(20))  # "review" or "feedback"
    review_id: Mapped[int | None] = mapped_column(ForeignKey("reviews.id", ondelete="SET NULL"))
    decision_id: Mapped[int | None] = mapped_column(ForeignKey("decisions.id", ondelete="SET NULL"))
    sentence_index: Mapped[int | None] = mapped_column(Integer)
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Term(Base):
    """A publisher's term or phrase that raises or suppresses a flag, without retraining."""

    __tablename__ = "terms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    term: Mapped[str] = mapped_column(String(200))
    flag: Mapped[str] = mapped_column(String(40))
    effect: Mapped[str] = mapped_column(String(10))  # "raise" or "suppress"
    note: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (Index("uq_terms_term_flag_effect", "term", "flag", "effect", unique=True),)


class Counter(Base):
    """Generation counters that workers poll to pick up changes (term lists)."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class AuditEntry(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(100))
    detail: Mapped[dict[str, Any]]


class ApiKey(Base):
    """An API key: only a salted hash of it is kept; the key is shown once, at creation."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(20))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)  # public part, for lookup and display
    salt: Mapped[str] = mapped_column(String(64))
    digest: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
