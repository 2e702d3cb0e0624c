# Two commands do all the set-up: `make run` and `make test`.
VENV := .venv
BIN := $(VENV)/bin
PORTAL := PORTAL_ENV=development $(BIN)/flask --app wsgi

# The browser tests drive the system's Chromium, with CJK fonts for the Chinese pages.
BROWSER_PACKAGES := chromium fonts-noto-cjk
CHROMIUM ?= $(shell command -v chromium || command -v chromium-browser)

.PHONY: run test install install-dev system-packages translations lint messages eval bench lock

$(BIN)/python:
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

## requirements.lock pins every package of the tree, so two installs a month apart get the same versions.
install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -c requirements.lock -e .
	$(MAKE) translations

install-dev: $(BIN)/python
	$(BIN)/python -m pip install --quiet -c requirements.lock -e '.[dev]'
	$(MAKE) translations

## Install Chromium and the CJK fonts with apt when they are missing and this is root (or sudo needs no
## password); otherwise stop at once with the one command to run.
system-packages:
	@if [ -n "$(CHROMIUM)" ] && fc-list 2>/dev/null | grep -qi 'Noto Sans CJK'; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ]; then sudo=""; elif sudo -n true 2>/dev/null; then sudo="sudo -n"; else sudo=none; fi; \
	if [ "$$sudo" != none ] && command -v apt-get >/dev/null 2>&1 \
	    && $$sudo apt-get update -qq >/dev/null \
	    && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $(BROWSER_PACKAGES) >/dev/null; then exit 0; fi; \
	echo "The browser tests need Chromium and CJK fonts, and they could not be installed from here." >&2; \
	echo "Run this once, then make test again:  sudo apt-get install -y $(BROWSER_PACKAGES)" >&2; \
	exit 1

## Pin the whole tree anew after changing pyproject.toml, then commit requirements.lock.
lock:
	rm -rf .venv-lock && python3 -m venv .venv-lock
	.venv-lock/bin/python -m pip install --quiet -e '.[dev]'
	{ echo "# The whole dependency tree, pinned: make lock writes it from pyproject.toml; make installs with it."; \
	  .venv-lock/bin/python -m pip freeze --exclude-editable; } > requirements.lock
	rm -rf .venv-lock

translations:
	$(BIN)/pybabel compile --statistics -d portal/translations

## Install, migrate the SQLite database, load the demo data when it is empty, and serve on :5000.
run: install
	$(PORTAL) db upgrade
	$(PORTAL) seed-demo-if-empty
	$(PORTAL) run --host 127.0.0.1 --port 5000

## Install Chromium if needed, then the dev extras; lint, type-check and run the whole suite.
test: system-packages install-dev lint
	$(BIN)/pytest

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy portal matching wsgi.py
	$(BIN)/mypy --strict matching

## Extract the messages to translate and merge them into the catalogues.
messages:
	$(BIN)/pybabel extract -F portal/translations/babel.cfg -k _l -o portal/translations/messages.pot .
	$(BIN)/pybabel update -i portal/translations/messages.pot -d portal/translations -l zh_Hans_CN

EVAL := ../shared/match-eval
SECOND := tests/data/match-second
## Score the matching engine on the labelled sets: the official scorer on the dev set and on the
## second set (both were fitted on: these figures flatter), then the figures cross-validated by person.
eval: install
	for set in $(EVAL)/dev $(SECOND)/second; do \
	  $(BIN)/python -m matching rank $$set.json > $(VENV)/eval-rank.json && \
	  $(BIN)/python $(EVAL)/score.py rank $$set.json $$set.qrels.json $(VENV)/eval-rank.json && \
	  $(BIN)/python -m matching allocate $$set.json > $(VENV)/eval-allocate.json && \
	  $(BIN)/python $(EVAL)/score.py allocate $$set.json $$set.qrels.json $(VENV)/eval-allocate.json || exit 1; \
	done
	$(BIN)/python -m matching study $(EVAL)/dev.json $(EVAL)/dev.qrels.json $(SECOND)/second.json $(SECOND)/second.qrels.json

## Time the matching engine at full size (20,000 offers, 5,000 needs).
bench: install
	$(BIN)/python benchmarks/bench_matching.py
