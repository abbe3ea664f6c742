"""Every setting, its default and its environment variable, in one table.

Precedence: the defaults below, then the environment, then the overrides
passed to ``create_app``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    parse: Callable[[str], Any]
    help: str


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


SETTINGS: tuple[Setting, ...] = (
    Setting("MODELS_DIR", "models", str, "Directory holding model versions and the ACTIVE pointer."),
    Setting("MODEL_VERSION", "", str, "Serve this model version instead of the one in models/ACTIVE."),
    Setting("POLICY_PATH", "", str, "Policy file (TOML) replacing the packaged default."),
    Setting("FLAG_LEVEL", "medium", str, "Risk level from which a document is `flagged` (low, medium, high)."),
    Setting("MAX_CONTENT_LENGTH", 1 << 20, int, "Largest request body in bytes (413 above)."),
    Setting("MAX_TEXT_CHARS", 200_000, int, "Longest `text` in characters (at most 200000, the API contract)."),
    Setting("MAX_BATCH_DOCUMENTS", 100, int, "Most documents in one batch request (at most 100)."),
    Setting("MAX_SENTENCES", 5_000, int, "Most sentences analysed in one document (413 above)."),
    Setting("MAX_REQUEST_SENTENCES", 20_000, int, "Most sentences analysed in one request, all its documents "
            "together (413 above): refused before scoring, so no request runs into the worker timeout."),
    Setting("MODEL_CACHE_SIZE", 3, int, "Model versions kept loaded for requests that pin a version."),
    Setting("DATABASE_URL", "", str, "SQLAlchemy URL of the store (`postgresql://…` in production); "
            "empty: SQLite in `DATA_DIR`."),
    Setting("DATA_DIR", "instance", str, "Directory of the embedded SQLite store."),
    Setting("AUTO_MIGRATE", True, _bool, "Bring the database schema up to date at start."),
    Setting("REVIEW_LEVEL", "high", str, "Risk level from which a document sent with a `document_id` is "
            "queued for review (low, medium, high; `none`: only on request)."),
    Setting("RETENTION_DAYS", 90, int, "Days submitted texts are kept; `purge` deletes older ones."),
    Setting("REFRESH_SECONDS", 2.0, float, "How often each worker checks for a new active model (term lists and "
            "corrections are checked on every request, with its key)."),
    Setting("SECRET_KEY", "", str, "Signs the moderators' page session cookies; the same on every instance. "
            "Empty: a random key kept in `DATA_DIR/secret_key`."),
    Setting("SESSION_COOKIE_SECURE", False, _bool, "Always mark session cookies Secure (they are anyway on "
            "requests that arrive over TLS)."),
    Setting("RATE_LIMIT", "600/minute", str, "Requests per API key (e.g. `600/minute`, `20/second`); `off`: "
            "no limit. Health, metrics and docs are not limited."),
    Setting("RATE_LIMIT_STORAGE", "", str, "Where limits are counted: `redis://host:6379/0` holds them across "
            "workers and instances; empty: each worker's memory (N workers let N times the limit through)."),
    Setting("LOG_LEVEL", "INFO", str, "Log level of the JSON logs on standard error."),
    Setting("LOG_REQUESTS", True, _bool, "Write one JSON log line per request."),
)


def load_config(overrides: Mapping[str, Any] | None = None,
                environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Resolve every setting: defaults, then environment, then ``overrides``."""
    environ = os.environ if environ is None else environ
    config: dict[str, Any] = {}
    for s in SETTINGS:
        raw = environ.get(s.name)
        try:
            config[s.name] = s.default if raw in (None, "") else s.parse(raw)
        except ValueError as exc:
            raise ValueError(f"environment variable {s.name}={raw!r}: {exc}") from exc
    config.update(overrides or {})
    if config["FLAG_LEVEL"] not in ("low", "medium", "high"):
        raise ValueError(f"FLAG_LEVEL must be low, medium or high, not {config['FLAG_LEVEL']!r}")
    if config["REVIEW_LEVEL"] not in ("none", "low", "medium", "high"):
        raise ValueError(f"REVIEW_LEVEL must be none, low, medium or high, not {config['REVIEW_LEVEL']!r}")
    if not config["DATABASE_URL"]:
        config["DATABASE_URL"] = f"sqlite:///{os.path.abspath(os.path.join(config['DATA_DIR'], 'kratom-claims.db'))}"
    config["MAX_TEXT_CHARS"] = min(int(config["MAX_TEXT_CHARS"]), 200_000)
    config["MAX_BATCH_DOCUMENTS"] = min(int(config["MAX_BATCH_DOCUMENTS"]), 100)
    return config


def settings_table() -> str:
    """The settings as a Markdown table (README's configuration section)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    rows += [f"| `{s.name}` | `{s.default!s}` | {s.help} |" for s in SETTINGS]
    return "\n".join(rows)
