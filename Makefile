# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: run test test-deps install services messages bench lock clean

# The production packages (requirements.lock); the tests add theirs (requirements-test.lock).
$(STAMP): requirements.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.lock
	touch $(STAMP)

$(TEST_STAMP): $(STAMP) requirements-test.lock
	$(BIN)/pip install --quiet -r requirements-test.lock
	touch $(TEST_STAMP)

install: $(STAMP)

# French and English: compile the catalogues the pages read.
messages: $(STAMP)
	scripts/compile-messages

# Web UI, worker, beat and a demo receiver in the foreground. Embedded defaults (SQLite, a
# filesystem broker) unless DATABASE_URL / CELERY_BROKER_URL are set. The demo allows
# http:// and loopback URLs so that the local receiver can be connected.
run: $(STAMP) messages
	@mkdir -p .run
	@echo "Demo mode: WEBHOOKS_ALLOW_HTTP=1 WEBHOOKS_ALLOW_LOOPBACK=1 (development only)."
	DJANGO_DEBUG=1 WEBHOOKS_DEMO=1 WEBHOOKS_ALLOW_HTTP=1 WEBHOOKS_ALLOW_LOOPBACK=1 $(BIN)/python manage.py migrate --noinput
	DJANGO_DEBUG=1 $(BIN)/python manage.py demo_setup
	DJANGO_DEBUG=1 WEBHOOKS_DEMO=1 WEBHOOKS_ALLOW_HTTP=1 WEBHOOKS_ALLOW_LOOPBACK=1 PATH="$(CURDIR)/$(BIN):$$PATH" \
		$(BIN)/honcho -f Procfile.dev start

services:
	scripts/services-up

test-deps:
	scripts/test-deps

# Unit and integration tests against the machine's PostgreSQL and Redis (started if needed),
# a real Celery worker and headless Chromium.
test: $(TEST_STAMP) services test-deps messages
	$(BIN)/pytest $(PYTEST_ARGS)

# The benchmark (issues 4 and 10; about 9 minutes; BENCH_ARGS=--quick for a short try).
bench: $(STAMP) services
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m bench.run $(BENCH_ARGS)

# Refresh the pinned versions after changing pyproject.toml: production pins in
# requirements.lock, the tests' own on top of them in requirements-test.lock.
lock:
	rm -rf /tmp/inboundflow-lock && $(PYTHON) -m venv /tmp/inboundflow-lock
	/tmp/inboundflow-lock/bin/pip install --quiet --upgrade pip
	/tmp/inboundflow-lock/bin/pip install --quiet .
	/tmp/inboundflow-lock/bin/pip freeze --exclude inboundflow-webhooks > requirements.lock
	/tmp/inboundflow-lock/bin/pip install --quiet ".[test]"
	{ echo "# Test-only packages, on top of the production pins (\`make lock\` writes both files)."; \
	  echo "-r requirements.lock"; \
	  /tmp/inboundflow-lock/bin/pip freeze --exclude inboundflow-webhooks | grep -vxF -f requirements.lock; \
	} > requirements-test.lock

clean:
	rm -rf $(VENV) .run db.sqlite3
