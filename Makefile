# activity-core developer entry points. `make run` and `make test` bootstrap .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help install run test test-fast lint format typecheck bench bench-quick clean

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install activity-core with its dev tools

run: $(STAMP) ## Start Temporal dev server + Web UI, reference State Hub and worker; run the digest once
	$(BIN)/actcore dev up $(if $(NO_DEMO),--no-demo)

test: $(STAMP) ## Run the whole test suite against a real Temporal dev server
	$(BIN)/python -m pytest -q

test-fast: $(STAMP) ## Run the tests that do not wait in real time
	$(BIN)/python -m pytest -q -m "not realtime"

lint: $(STAMP) ## ruff lint + format check and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy activity_core workflows activities

format: $(STAMP) ## Apply ruff formatting and safe fixes
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: $(STAMP) ## mypy only
	$(BIN)/mypy activity_core workflows activities

bench: $(STAMP) ## Run the benchmarks (prints ratios against an in-run baseline)
	$(BIN)/python -m bench

bench-quick: $(STAMP) ## Benchmarks at small sizes (under 2 minutes)
	$(BIN)/python -m bench --quick

clean: ## Remove the virtualenv and local dev state
	rm -rf $(VENV) .actcore .pytest_cache .mypy_cache .ruff_cache
