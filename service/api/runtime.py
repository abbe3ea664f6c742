"""What the views need from the running app, without touching the request."""

from __future__ import annotations

from flask import current_app

from ..analysis.analyzer import Analysis, Analyzer
from ..observability import metrics
from ..runtime import AnalyzerProvider


def provider() -> AnalyzerProvider:
    return current_app.extensions["analyzers"]


def analyzer_for(version: str | None) -> Analyzer:
    return provider().get(version)


def observe(analysis: Analysis) -> None:
    m = metrics()
    m.sentences.inc(len(analysis.sentences))
    m.documents.labels(analysis.risk_level).inc()
    for code, n in analysis.summary["flags"].items():
        m.flags.labels(code).inc(n)
