"""Rate limits per API key (per client address for anonymous requests).

Counted in Redis when ``RATE_LIMIT_STORAGE`` names one, so the limit holds
across every worker and instance. The embedded default counts in each
worker's memory: with N workers up to N times the limit gets through. If Redis
becomes unreachable, counting falls back to memory rather than refusing
traffic, and comes back to Redis when it returns.
"""

from __future__ import annotations

from flask import Flask, g, request
from flask_limiter import Limiter

from .access import required_role


def _key() -> str:
    actor = g.get("actor")
    return f"key:{actor}" if actor else f"addr:{request.remote_addr}"


def _exempt() -> bool:
    return required_role(request.endpoint, request.blueprint) is None  # health, metrics, docs, sign-in page


def init_app(app: Flask) -> Limiter:
    """Call after ``access.init_app``: the limit is counted per key, so the key must be known first."""
    limit = app.config["RATE_LIMIT"]
    limit = "" if str(limit).strip().lower() in ("", "off", "none") else limit
    limiter = Limiter(
        _key, app=app, default_limits=[limit] if limit else [], default_limits_exempt_when=_exempt,
        storage_uri=app.config["RATE_LIMIT_STORAGE"] or "memory://",
        storage_options={"socket_connect_timeout": 1, "socket_timeout": 1},
        strategy="moving-window", headers_enabled=True, key_prefix="kratom-claims",
        in_memory_fallback_enabled=True, enabled=bool(limit),
    )
    app.extensions["rate_limiter"] = limiter
    return limiter
