# activity-core developer entry points. `make run` and `make test` bootstrap .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The workflow sandbox executes each workflow module again for every workflow it starts;
# without bytecode on disk (PYTHONDONTWRITEBYTECODE) it compiles them every time.
BYTECODE := $(BIN)/python -m compileall -q activity_core workflows activities

.DEFAULT_GOAL := help
.PHONY: help install lock run test test-fast lint format typecheck bench bench-quick clean

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements-dev.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' -c requirements-dev.lock
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install activity-core with its dev tools (pinned by requirements-dev.lock)

lock: ## Re-resolve the dev environment from pyproject.toml into requirements-dev.lock
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -e '.[dev]'
	{ head -n 2 requirements-dev.lock; .lock-venv/bin/python -m pip freeze --exclude-editable; } > requirements-dev.lock.new
	mv requirements-dev.lock.new requirements-dev.lock && rm -rf .lock-venv

run: $(STAMP) ## Start Temporal dev server + Web UI, reference State Hub and worker; run the digest once
	@$(BYTECODE)
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
	@$(BYTECODE)
	$(BIN)/python -m bench

bench-quick: $(STAMP) ## Benchmarks at small sizes (under 2 minutes)
	@$(BYTECODE)
	$(BIN)/python -m bench --quick

clean: ## Remove the virtualenv and local dev state
	rm -rf $(VENV) .actcore .pytest_cache .mypy_cache .ruff_cache
