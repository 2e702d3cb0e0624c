# Two commands do all the set-up: `make run` and `make test`.
VENV := .venv
BIN := $(VENV)/bin
PORTAL := PORTAL_ENV=development $(BIN)/flask --app wsgi

.PHONY: run test install install-dev translations lint messages eval bench

$(BIN)/python:
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	$(MAKE) translations

install-dev: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(MAKE) translations

translations:
	$(BIN)/pybabel compile --statistics -d portal/translations

## Install, migrate the SQLite database, load the demo data when it is empty, and serve on :5000.
run: install
	$(PORTAL) db upgrade
	$(PORTAL) seed-demo-if-empty
	$(PORTAL) run --host 127.0.0.1 --port 5000

## Install the dev extras, then lint, type-check and run the whole suite.
test: install-dev lint
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
## Score the matching engine on the labelled dev set (ranking, then allocation).
eval: install
	$(BIN)/python -m matching rank $(EVAL)/dev.json > $(VENV)/dev-rank.json
	$(BIN)/python $(EVAL)/score.py rank $(EVAL)/dev.json $(EVAL)/dev.qrels.json $(VENV)/dev-rank.json
	$(BIN)/python -m matching allocate $(EVAL)/dev.json > $(VENV)/dev-allocate.json
	$(BIN)/python $(EVAL)/score.py allocate $(EVAL)/dev.json $(EVAL)/dev.qrels.json $(VENV)/dev-allocate.json

## Time the matching engine at full size (20,000 offers, 5,000 needs).
bench: install
	$(BIN)/python benchmarks/bench_matching.py
