# One command each: `make run` and `make test` do all their own set-up.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000
WORKERS ?= 2
export HOST PORT WORKERS

.PHONY: install model retrain run test lint bench evaluate clean

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	touch $@

install: $(VENV)/.installed

model: install
	$(PY) -m training.train --if-absent

retrain: install
	$(PY) -m training.train

run: model
	$(VENV)/bin/gunicorn --config gunicorn.conf.py service.wsgi:app

test: install
	$(VENV)/bin/ruff check .
	$(PY) -m pytest

evaluate: model
	$(PY) -m training.evaluate

bench: model
	@command -v wrk >/dev/null || apt-get install -y -qq wrk || echo "wrk missing: the HTTP section needs it (apt-get install wrk)"
	$(PY) -m bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
