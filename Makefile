# `make run`, `make test` (everything, as CI runs it) and `make check` (the fast tier; README, Tests).
PORT ?= 5000
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev
CATALOGS := $(wildcard crm/translations/*/LC_MESSAGES/messages.po)
COMPILED := $(CATALOGS:.po=.mo)

.PHONY: run test check lint translations extract-messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e .
	touch $@

$(DEV_STAMP): $(STAMP)
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

%.mo: %.po $(STAMP)
	$(BIN)/pybabel compile --statistics -i $< -o $@ >/dev/null

translations: $(COMPILED)

run: $(STAMP) translations
	$(BIN)/crm db upgrade
	$(BIN)/crm seed-demo
	CRM_SCHEDULER=$${CRM_SCHEDULER:-on} $(BIN)/crm serve --port $(PORT)

lint: $(DEV_STAMP)
	$(BIN)/ruff check crm tests

# Markers (db, pg, browser, slow) are set by tests/conftest.py from each test's fixtures and folder.
# worksteal: an idle worker takes queued tests from a busy one (the slow tests vary from 1 s to 1 min).
test: $(DEV_STAMP) translations lint
	$(BIN)/pytest -n 2 --dist worksteal

# The fast tier: no servers, faults, browser or PostgreSQL (SQLite only).
check: $(DEV_STAMP) translations lint
	$(BIN)/pytest -n 2 --dist worksteal -m "not slow and not browser and not pg"

extract-messages: $(STAMP)
	$(BIN)/pybabel -q extract -F babel.cfg --ignore-dirs='.* __pycache__' -k _l -k lazy_gettext -o crm/translations/messages.pot .
	$(BIN)/pybabel -q update -i crm/translations/messages.pot -d crm/translations

clean:
	rm -rf $(VENV) $(COMPILED)
