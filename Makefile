# Orca — the two commands a newcomer needs are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PORT ?= 8000
HOST ?= 127.0.0.1
WORKERS ?= $(shell nproc 2>/dev/null || echo 2)
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint format serve worker migrate install clean bench bench-servers bench-clients profile

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Orca needs Python 3.11 or newer (set PYTHON=...)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python manage.py migrate --noinput

## run: set up, seed the demo workspace, print its key, serve API + dashboard with a worker
run: migrate
	@HOST=$(HOST) PORT=$(PORT) BIN=$(BIN) bash scripts/run-dev.sh

## test: the whole suite (PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set)
test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## serve: production serving, several uvicorn worker processes, no access log
serve: migrate
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/uvicorn orca.asgi:application --host $(HOST) --port $(PORT) \
		--workers $(WORKERS) --no-access-log --no-proxy-headers --lifespan on

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
