"""What the views need from the running app, without touching the request."""

from __future__ import annotations

from flask import current_app, g

from ..analysis.analyzer import Analysis, Analyzer
from ..observability import metrics
from ..runtime import AnalyzerProvider
from ..store import Store


def provider() -> AnalyzerProvider:
    return current_app.extensions["analyzers"]


def analyzer_for(version: str | None) -> Analyzer:
    return provider().get(version)


def current_store() -> Store:
    return current_app.extensions["store"]


def actor() -> str:
    """Who is making the request, for the audit trail."""
    return g.get("actor") or "anonymous"


def observe(analysis: Analysis) -> None:
    m = metrics()
    m.sentences.inc(len(analysis.sentences))
    m.documents.labels(analysis.risk_level).inc()
    for code, n in analysis.summary["flags"].items():
        m.flags.labels(code).inc(n)
