# Orca — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PORT ?= 8000
HOST ?= 127.0.0.1
WORKERS ?= $(shell nproc 2>/dev/null || echo 2)
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Installs resolve nothing: they take the pinned, hashed set in the lock (docs/dependencies.md).
LOCK := requirements.lock
# The lock and audit tools live in venvs of their own, one per pinned version, outside $(VENV).
TOOLS ?= var/tools
UV_VERSION := 0.13.9
PIP_AUDIT_VERSION := 2.10.1
UV := $(TOOLS)/uv-$(UV_VERSION)/bin/uv
PIP_AUDIT_VENV := $(TOOLS)/pip-audit-$(PIP_AUDIT_VERSION)
# The real coding agents the suite drives (Claude Code, Codex CLI), pinned in their lock.
AGENTS := tests/agents
AGENTS_STAMP := $(AGENTS)/node_modules/.installed

.PHONY: run test lint format serve worker migrate install agents lock audit clean bench bench-servers bench-clients profile

$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Orca needs Python 3.11 or newer (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

install: $(STAMP)

## agents: the pinned coding agents for the suite, from the npm registry alone (npm ci)
agents: $(AGENTS_STAMP)

$(AGENTS_STAMP): $(AGENTS)/package.json $(AGENTS)/package-lock.json
	npm ci --prefix $(AGENTS) --no-audit --no-fund --loglevel=error
	touch $(AGENTS_STAMP)

## lock: re-pin requirements.lock from pyproject.toml (LOCK_ARGS=--upgrade for newest releases)
lock: $(UV)
	$(UV) pip compile pyproject.toml --extra dev --universal --python-version 3.11 \
		--generate-hashes --custom-compile-command 'make lock' --quiet $(LOCK_ARGS) -o $(LOCK)

$(UV):
	$(PYTHON) -m venv $(TOOLS)/uv-$(UV_VERSION)
	$(TOOLS)/uv-$(UV_VERSION)/bin/python -m pip install --quiet uv==$(UV_VERSION)

## audit: known vulnerabilities in the locked set; exit 0 with a note when the database is unreachable
## (AUDIT_ARGS passes pip-audit options, e.g. AUDIT_ARGS='--vulnerability-service osv')
audit: $(PIP_AUDIT_VENV)/bin/pip-audit
	@$(PIP_AUDIT_VENV)/bin/python scripts/audit.py $(LOCK) $(AUDIT_ARGS)

$(PIP_AUDIT_VENV)/bin/pip-audit:
	$(PYTHON) -m venv $(PIP_AUDIT_VENV)
	$(PIP_AUDIT_VENV)/bin/python -m pip install --quiet pip-audit==$(PIP_AUDIT_VERSION)

migrate: install
	$(BIN)/python manage.py migrate --noinput

## run: set up, seed the demo workspace, print its key, serve API + dashboard with a worker
run: migrate
	@HOST=$(HOST) PORT=$(PORT) BIN=$(BIN) bash scripts/run-dev.sh

## test: the whole suite (PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set)
test: install agents
	ORCA_REQUIRE_AGENTS=1 $(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## serve: production serving, several uvicorn worker processes, no access log
## (metrics of every worker summed through PROMETHEUS_MULTIPROC_DIR, emptied at each start)
PROMETHEUS_MULTIPROC_DIR ?= $(CURDIR)/var/prometheus
serve: migrate
	$(BIN)/python manage.py collectstatic --noinput -v0
	mkdir -p "$(PROMETHEUS_MULTIPROC_DIR)" && rm -f "$(PROMETHEUS_MULTIPROC_DIR)"/*.db
	PROMETHEUS_MULTIPROC_DIR="$(PROMETHEUS_MULTIPROC_DIR)" \
	$(BIN)/uvicorn orca.asgi:application --host $(HOST) --port $(PORT) \
		--workers $(WORKERS) --no-access-log --no-proxy-headers --lifespan on \
		--http orca.server:HttpProtocol \
		$(if $(filter json,$(ORCA_LOG_FORMAT)),--log-config orca/uvicorn-log.json)

worker: install
	$(BIN)/celery -A orca worker --loglevel INFO

clean:
	rm -rf $(VENV) var

## bench: mock upstream, Orca, the bare ASGI ceiling and LiteLLM under load; writes results/
bench: install
	$(BIN)/python -m bench.run

## bench-servers: Orca under uvicorn, granian and daphne (the choice behind `make serve`)
bench-servers: install
	$(BIN)/python -m bench.servers

## bench-clients: CPU per upstream call, aiohttp's client against Orca's own
bench-clients: install
	$(BIN)/python -m bench.clients

## profile: one Orca worker under load, recorded by py-spy; flame graph and summary in results/
profile: install
	$(BIN)/python -m bench.profile
