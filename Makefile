# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: client-core reset run test lint walkthrough test-sqlite test-postgres bench clean system-deps

# What the passport tests drive: Debian's Chromium (Playwright runs it), a QR decoder,
# PDF text extraction and CJK fonts for the Chinese page. Installed once, if missing.
SYSTEM_TOOLS := chromium zbarimg pdftotext node npm
SYSTEM_PACKAGES := chromium chromium-driver zbar-tools poppler-utils fonts-noto-cjk nodejs npm
CJK_FONT := /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc

$(STAMP): pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]' -e clients/python
	touch $(STAMP)

# `make run PORT=8080 HOST=0.0.0.0 WORKERS=2` to serve elsewhere.
PORT ?= 8000
HOST ?= 127.0.0.1
WORKERS ?= 1

run: $(STAMP)
	$(BIN)/goldtrail serve --host $(HOST) --port $(PORT) --workers $(WORKERS)

# Start the README walkthrough afresh: an empty ledger (the keys in var/ are kept) and no demo/.
# Stop the server first.
reset:
	rm -f var/goldtrail.db var/goldtrail.db-wal var/goldtrail.db-shm var/goldtrail.db.writer-lock
	rm -rf demo

# The client's copy of the pure core (clients/python/goldtrail_client/_core/), regenerated from
# app/ledger/ after a change there; tests/test_client_core.py fails until it is.
client-core:
	$(PYTHON) tools/client_core.py

# The README's walkthrough, run as written with bash -euo pipefail against `make run`'s server:
# it stops at the first step that fails, saying why (a second run: make reset first).
walkthrough: $(STAMP)
	mkdir -p var
	$(BIN)/python tools/walkthrough.py > var/walkthrough.sh
	bash -euo pipefail var/walkthrough.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

system-deps:
	@for tool in $(SYSTEM_TOOLS); do command -v $$tool >/dev/null || missing=1; done; \
	[ -f $(CJK_FONT) ] || missing=1; \
	if [ -n "$$missing" ]; then \
		echo "installing $(SYSTEM_PACKAGES) (apt)"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $(SYSTEM_PACKAGES); \
	fi

# Third-party JSON-LD and Data Integrity code for tests/test_jsonld.py (npm, pinned by its lock).
JSONLD_STAMP := tests/jsonld/node_modules/.installed
$(JSONLD_STAMP): tests/jsonld/package-lock.json | system-deps
	npm ci --prefix tests/jsonld --no-audit --no-fund --loglevel=error
	touch $(JSONLD_STAMP)

# Two test processes (pytest-xdist): each test has its own database, schema, ports and
# folders, so they run side by side; on 2 cores the suite takes half as long.
TEST_PROCESSES ?= 2

test: lint system-deps $(JSONLD_STAMP)
	$(BIN)/pytest -q -n $(TEST_PROCESSES)

# The same suite against PostgreSQL (what .ci/run does after `make test`).
test-postgres: $(STAMP) system-deps $(JSONLD_STAMP)
	GOLDTRAIL_TEST_DATABASE_URL=$${GOLDTRAIL_TEST_DATABASE_URL:-postgresql://postgres@127.0.0.1:5432/test} \
		$(BIN)/pytest -q -n $(TEST_PROCESSES)

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache
