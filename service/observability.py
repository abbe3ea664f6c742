"""Request ids, one JSON log line per request, and Prometheus metrics.

Metrics live in a registry per app (tests build many apps). Under gunicorn,
``PROMETHEUS_MULTIPROC_DIR`` makes every worker write its samples to files
that ``/metrics`` aggregates, so the figures are right whichever worker
answers the scrape.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from typing import Any

from flask import Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
access_log = logging.getLogger("service.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"), "level": record.levelname,
            "logger": record.name, "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter("http_requests_total", "HTTP requests", ["route", "method", "status"], registry=r)
        self.latency = Histogram(
            "http_request_duration_seconds", "HTTP request latency", ["route", "method"], registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.sentences = Counter("sentences_analysed_total", "Sentences analysed", registry=r)
        self.documents = Counter("documents_analysed_total", "Documents analysed", ["risk"], registry=r)
        self.flags = Counter("flags_raised_total", "Flags raised", ["code"], registry=r)
        # The latest value any live process wrote: gunicorn's preloading master sets the first model
        # to 1 and never serves, so with "livemax" its stale 1 outlived every switch.
        self.model = Gauge("model_active_info", "Model version serving requests (1 = active)",
                           ["name", "version"], registry=r, multiprocess_mode="livemostrecent")

    def expose(self) -> Response:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
        else:
            registry = self.registry
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def metrics() -> Metrics:
    return current_app.extensions["metrics"]


def init_app(app: Flask) -> None:
    """Wire request ids, access logs and metrics into ``app``."""
    app.extensions["metrics"] = Metrics()
    logger = logging.getLogger("service")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(JsonFormatter())
        logger.addHandler(handler)
        logger.propagate = False
    logger.setLevel(app.config["LOG_LEVEL"])

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()
        sent = request.headers.get("X-Request-ID", "")
        g.request_id = sent if _REQUEST_ID_RE.match(sent) else uuid.uuid4().hex

    @app.after_request
    def _finish(response: Response) -> Response:
        response.headers["X-Request-ID"] = g.get("request_id", "")
        route = request.url_rule.rule if request.url_rule else "<unmatched>"
        elapsed = time.perf_counter() - g.get("started", time.perf_counter())
        m = metrics()
        m.requests.labels(route, request.method, str(response.status_code)).inc()
        m.latency.labels(route, request.method).observe(elapsed)
        if app.config["LOG_REQUESTS"]:
            access_log.info("request", extra={"fields": {
                "request_id": g.get("request_id"), "method": request.method, "route": route,
                "path": request.path, "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 3),
            }})
        return response
