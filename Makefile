# Territoire: the two commands a newcomer needs are `make demo` and `make test`.
# Everything else is here for data engineers. `make help` lists the targets.

SHELL := /bin/bash
PYTHON ?= python3.11
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(shell command -v uv 2>/dev/null || echo $(TOOLS)/bin/uv)
VENV := .venv
BIN := $(VENV)/bin
export PYTHONPATH := $(CURDIR)/plugins
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)

.DEFAULT_GOAL := help
.PHONY: help env demo airflow airflow-stop test test-fast lint manifest dbt-build dbt-docs up down bench bench-loader bench-gate bench-pipeline bench-api clean clean-warehouse serve

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  make %-20s %s\n", $$1, $$2}'

$(TOOLS)/bin/uv:
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found: install Python 3.11 (see README)"; exit 1; }
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

$(BIN)/territoire: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --compile-bytecode --python $(PYTHON)
	@touch $@

node_modules/axe-core/axe.min.js: package.json package-lock.json
	@command -v npm >/dev/null || { echo "error: npm not found: install Node.js and npm (see README)"; exit 1; }
	npm ci --no-audit --no-fund --silent
	@touch $@

env: $(BIN)/territoire node_modules/axe-core/axe.min.js ## Create the virtual environment (.venv) from uv.lock, and axe-core (browser tests)

manifest: env ## Write dbt_project/target/manifest.json (Cosmos renders the dbt DAG from it)
	$(BIN)/python -c "from territoire import dbt; dbt.parse()"

demo: env ## Run the whole pipeline on the shipped sample data through Airflow, then print a summary
	$(BIN)/territoire demo

airflow: env ## Open the Airflow UI on the demo's runs (prints URL and login; Ctrl-C or `make airflow-stop` stops it)
	$(BIN)/territoire airflow

airflow-stop: ## Stop the Airflow started by `make airflow`
	$(BIN)/territoire airflow --stop

test: env ## Run every test (unit, integration, end-to-end, deployment)
	$(BIN)/python -m pytest -q

test-fast: env ## Only the tests not marked slow
	$(BIN)/python -m pytest -q -m "not slow"

lint: env ## ruff (incl. the Airflow rules)
	$(BIN)/ruff check plugins dags tests bench

dbt-build: env ## dbt build against the warehouse (WAREHOUSE_URL, or the embedded server)
	$(BIN)/python -c "from territoire import dbt; dbt.run(['build'])"

dbt-docs: env ## Generate dbt docs into the publication folder (<publication>/docs/index.html)
	$(BIN)/python -c "from territoire.publication.dbt_docs import publish_dbt_docs; print(publish_dbt_docs())"

bench: bench-loader bench-gate bench-pipeline bench-api ## Run the benchmarks (figures as `bench <name>: <value> <unit>`)

bench-loader: env ## Loader vs psql \copy vs pandas.to_sql on 1,000,000 synthetic rows, and a 200 MB all-rows-bad file
	$(BIN)/python bench/bench_loader.py

bench-gate: env ## Quality gate vs one hand-written SQL query on a 1,000,000-row table
	$(BIN)/python bench/bench_gate.py

bench-api: env ## Open API latency (1 and 50 clients), deep pages, group-by, export vs direct SQL and COPY, 1,000,000 synthetic rows
	$(BIN)/python bench/bench_api.py

serve: env ## Serve the open API (http://127.0.0.1:8000/api/docs) and the portal on the warehouse (after make demo)
	$(BIN)/territoire serve

bench-pipeline: env ## The pipeline through Airflow (as make demo) vs the bare tools (load, dbt build, publish)
	$(BIN)/python bench/bench_pipeline.py

up: ## Start the production stack with Docker Compose (needs a Docker engine and a filled .env; docs/deployment.md)
	@test -f .env || { echo "error: no .env: cp .env.example .env and fill in every secret (docs/deployment.md)"; exit 1; }
	docker compose up -d

down: ## Stop the production stack (volumes are kept)
	docker compose down

clean-warehouse: ## Stop the embedded PostgreSQL server
	@if [ -x $(BIN)/territoire ]; then $(BIN)/territoire db stop; else echo "no environment (.venv): no embedded server to stop"; fi

clean: clean-warehouse ## Remove what runs produced (var/, dbt target) but keep the environment
	rm -rf var dbt_project/target dbt_project/logs
