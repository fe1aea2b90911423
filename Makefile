# activity-core developer entry points. `make run` and `make test` bootstrap .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CHECKOV_VENV := .venv-checkov
CHECKOV      := $(CHECKOV_VENV)/bin/checkov
CHECKOV_PIN  := checkov==3.3.30
# The workflow sandbox executes each workflow module again for every workflow it starts;
# without bytecode on disk (PYTHONDONTWRITEBYTECODE) it compiles them every time.
BYTECODE := $(BIN)/python -m compileall -q activity_core workflows activities

.DEFAULT_GOAL := help
.PHONY: help install lock run test test-fast lint lint-deploy format typecheck bench bench-quick clean

help: ## Show this help
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-10s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml requirements-dev.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' -c requirements-dev.lock
	@touch $(STAMP)

install: $(STAMP) ## Create .venv and install activity-core with its dev tools (pinned by requirements-dev.lock)

lock: ## Re-resolve pyproject.toml into requirements-dev.lock and its runtime subset requirements.lock
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet -e '.[dev]'
	{ head -n 2 requirements-dev.lock; .lock-venv/bin/python -m pip freeze --exclude-editable; } > requirements-dev.lock.new
	mv requirements-dev.lock.new requirements-dev.lock && rm -rf .lock-venv
	# The runtime subset (what the image installs), at the same versions.
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet . -c requirements-dev.lock
	{ head -n 2 requirements.lock; .lock-venv/bin/python -m pip freeze --exclude-editable | grep -v '^activity-core'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock && rm -rf .lock-venv

run: $(STAMP) ## Start Temporal dev server + Web UI, reference State Hub and worker; run the digest once
	@$(BYTECODE)
	$(BIN)/actcore dev up $(if $(NO_DEMO),--no-demo)

test: $(STAMP) ## Run the whole test suite against a real Temporal dev server
	@$(BYTECODE)
	$(BIN)/python -m pytest -q -n 2 --dist worksteal --durations=20

test-fast: $(STAMP) ## Run the tests that do not wait in real time
	$(BIN)/python -m pytest -q -m "not realtime"

lint: $(STAMP) lint-deploy ## ruff lint + format check, mypy, and the deploy files' checks
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy activity_core workflows activities

$(CHECKOV):
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet '$(CHECKOV_PIN)'

lint-deploy: $(STAMP) $(CHECKOV) ## deploy/: Kubernetes schemas, checkov, hadolint
	$(BIN)/kubernetes-validate --strict --quiet -k 1.32.0 $(filter-out %/kustomization.yaml,$(wildcard deploy/kubernetes/base/*.yaml))
	$(BIN)/hadolint deploy/Dockerfile
	$(CHECKOV) --directory deploy --compact --quiet --skip-download

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
	rm -rf $(VENV) $(CHECKOV_VENV) .actcore .pytest_cache .mypy_cache .ruff_cache
