# The moderation service: gunicorn serving the model trained at build time.

# The compiled n-gram scorer, built where a compiler is (the full image, same Python and Debian).
FROM python:3.11.7-bookworm AS ngrams
WORKDIR /src
COPY setup.py ./
COPY service/analysis/_ngrams.c ./service/analysis/
RUN python setup.py --quiet build_ext --inplace

FROM python:3.11.7-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY requirements.lock pyproject.toml ./
RUN pip install --require-hashes -r requirements.lock

COPY service ./service
COPY --from=ngrams /src/service/analysis/_ngrams.*.so ./service/analysis/
COPY training ./training
COPY gunicorn.conf.py ./
# Train the default model from the committed corpus (deterministic), then drop privileges.
# The embedded store (SQLite) and the session secret live in DATA_DIR, which the service user must
# be able to write; mount a volume there, or set DATABASE_URL and SECRET_KEY.
RUN python -m training.train --models-dir /app/models \
    && useradd --system --uid 10001 --home-dir /app app \
    && mkdir -p /app/instance \
    && chown -R app:app /app/models /app/instance
USER app

ENV HOST=0.0.0.0 PORT=8000 WORKERS=2 MODELS_DIR=/app/models DATA_DIR=/app/instance
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"
ENTRYPOINT ["gunicorn", "--config", "gunicorn.conf.py", "service.wsgi:app"]
