# The two set-up commands of the README live here: `make demo` and `make test`.
# Both work on a fresh machine with only Python 3.11, pip, git and make.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip

.PHONY: demo test lint typecheck unit install dev bench bench-quick clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.core: pyproject.toml | $(BIN)/python
	$(PIP) install -q -e '.[server,serve,sklearn]' pandas
	touch $@

$(VENV)/.dev: pyproject.toml | $(BIN)/python
	$(PIP) install -q -e '.[dev]'
	touch $@ $(VENV)/.core

install: $(VENV)/.core
dev: $(VENV)/.dev

demo: $(VENV)/.core
	PATH="$(abspath $(BIN)):$$PATH" bash examples/demo.sh

lint: dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

unit: dev
	CAIRN_TEST_PG="$$(scripts/postgres.sh start)" $(BIN)/python -m pytest -q

test: dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	scripts/chromium.sh
	CAIRN_TEST_PG="$$(scripts/postgres.sh start)" $(BIN)/python -m pytest -q

bench: dev
	$(BIN)/python -m benchmarks

bench-quick: dev
	$(BIN)/python -m benchmarks --quick

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
	scripts/postgres.sh stop
