# invoicebridge: `make demo` runs the whole thing on sample orders; `make test` proves it.
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install redis-server chromium rabbitmq-server demo test test-fast bench chaos lint mypy format clean deploy-check

install: $(STAMP) redis-server chromium rabbitmq-server

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Debian packages the project runs on: redis-server (ledger + queue), chromium (the
# dashboard's browser tests) and rabbitmq-server (the queue on RabbitMQ, tested end to end).
# Found on PATH, else installed with apt-get when we are root.
redis-server chromium rabbitmq-server:
	@if command -v $@ >/dev/null 2>&1 || [ -x /usr/sbin/$@ ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing $@ with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $@ >/dev/null; \
	else \
	  echo "$@ is not installed. Install it, e.g.: sudo apt-get install $@" >&2; \
	  exit 1; \
	fi

demo: $(STAMP) redis-server
	$(BIN)/invoicebridge demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

mypy: $(STAMP)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: install lint mypy
	$(BIN)/pytest

# the whole system under load while workers, Redis and the receiver are killed and faulted
chaos: $(STAMP) redis-server
	$(BIN)/invoicebridge chaos --events 5000 --worker-kills 20

# speed figures, side by side in one run, written to BENCHMARKS.md
bench: $(STAMP) redis-server
	$(BIN)/python -m benchmarks

# deploy/ without Docker or a cluster: manifest schemas, compose wiring, image lint, systemd, redis.conf
deploy-check: $(STAMP) redis-server
	$(BIN)/pytest -q tests/unit/test_deploy.py tests/unit/test_deploy_compose.py \
	    tests/unit/test_deploy_image.py tests/unit/test_deploy_host.py

test-fast: install
	$(BIN)/pytest -m "not e2e"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .demo
