# One command each: `make run` and `make test` do all their own set-up.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000
WORKERS ?= 2
export HOST PORT WORKERS

.PHONY: install services model retrain run test lint audit load-fault bench evaluate sanitize clean

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements.lock
	touch $@

# The compiled n-gram scorer (service/analysis/_ngrams.c). Without it the service falls back to the
# same features in Python, several times slower, and says so at start-up.
NGRAMS := service/analysis/_ngrams$(shell $(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))')

$(NGRAMS): service/analysis/_ngrams.c setup.py $(VENV)/.installed
	$(PY) setup.py --quiet build_ext --inplace

install: $(VENV)/.installed $(NGRAMS)

model: install
	$(PY) -m training.train --if-absent

retrain: install
	$(PY) -m training.train

run: model
	@LOG_REQUESTS=false $(PY) -m service keys ensure-dev
	$(VENV)/bin/gunicorn --config gunicorn.conf.py service.wsgi:app

# What the tests talk to besides Python: PostgreSQL on 127.0.0.1:5432 (started if it is
# installed but stopped) and Debian's Chromium for the moderators' page test.
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@command -v chromium >/dev/null || apt-get install -y -qq chromium >/dev/null \
		|| (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

# Static checks: ruff (its S rules are bandit's) and bandit itself on the shipped code.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/bandit --quiet --recursive service training

# Known vulnerabilities in the pinned dependencies (PyPI's advisory data, or OSV with
# --vulnerability-service osv); fails on any. It cannot audit a package whose advisories it
# cannot reach, and says so in its "Skip Reason" table rather than failing.
audit: install
	$(VENV)/bin/pip-audit --disable-pip --require-hashes --requirement requirements.lock --progress-spinner off

test: install services lint audit
	$(PY) -m pytest

evaluate: model
	$(PY) -m training.evaluate

# Load and faults: 5,000 mixed requests against gunicorn (2 workers), a worker SIGKILLed and the
# model switched mid-run, every acknowledged write looked up afterwards; SQLite, then PostgreSQL.
# Reports in reports/load_fault/. tests/test_load_fault.py runs a short form of it in `make test`.
load-fault: model services
	$(PY) -m bench.load_fault --database sqlite
	$(PY) -m bench.load_fault --database postgresql

bench: model
	@command -v wrk >/dev/null || apt-get install -y -qq wrk || echo "wrk missing: the HTTP section needs it (apt-get install wrk)"
	$(PY) -m bench

# The C scorer under AddressSanitizer and UndefinedBehaviorSanitizer: an instrumented build of the
# committed tree in a scratch copy, then the tests that drive it (hypothesis texts, hostile inputs).
sanitize: install
	dir=$$(mktemp -d /tmp/kc-sanitize.XXXXXX) && git archive HEAD | tar -x -C $$dir && cd $$dir \
	&& gcc -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -shared -fPIC \
		-I$$($(CURDIR)/$(PY) -c 'import sysconfig; print(sysconfig.get_paths()["include"])') \
		service/analysis/_ngrams.c -o $(NGRAMS) \
	&& ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1 \
		LD_PRELOAD="$$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)" \
		$(CURDIR)/$(PY) -m pytest -q -p no:cacheprovider tests/analysis tests/api/test_hostile.py; \
	status=$$?; rm -rf $$dir; exit $$status

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build service/analysis/_ngrams*.so
