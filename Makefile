# invoicebridge: `make demo` runs the whole thing on sample orders; `make test` proves it.
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
LOCK  := requirements.lock
PYTHON ?= python3

.PHONY: install redis-server chromium rabbitmq-server wrk demo test test-fast test-latest bench chaos \
	lint mypy format clean deploy-check lock

install: $(STAMP) redis-server chromium rabbitmq-server wrk

# The environment is the lock and nothing else: a new venv, pip and setuptools from the build
# lock, then every package of requirements.lock with --require-hashes --no-deps (no resolving,
# every file checked against its sha256), the project itself editable without build isolation
# (so no unlocked build backend is fetched), and `pip freeze` compared with the lock.
$(STAMP): pyproject.toml $(LOCK) deploy/build-requirements.lock
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r deploy/build-requirements.lock
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	$(BIN)/python -m tests.lockfile check
	touch $(STAMP)

# Re-resolve the locks from pyproject.toml, every file's hash included. Pins already in the lock
# are kept while pyproject.toml allows them; `make lock UPGRADE=1` takes the newest instead. One
# resolution is the source: the image's runtime and build locks are resolved with
# requirements.lock as a constraint, so they cannot name other versions (tests check it).
UV_COMPILE = $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock"
lock: $(STAMP)
	$(UV_COMPILE) $(if $(UPGRADE),--upgrade) pyproject.toml deploy/build-requirements.in \
	    --extra sandbox --extra dev -o $(LOCK)
	$(UV_COMPILE) pyproject.toml -c $(LOCK) -o deploy/requirements.lock
	$(UV_COMPILE) deploy/build-requirements.in -c $(LOCK) -o deploy/build-requirements.lock

# Debian packages the project runs on: redis-server (ledger + queue), chromium (the
# dashboard's browser tests), rabbitmq-server (the queue on RabbitMQ, tested end to end) and
# wrk (the load generator `make bench` drives the receiver with; its driver is tested).
# Found on PATH, else installed with apt-get when we are root.
redis-server chromium rabbitmq-server wrk:
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
bench: $(STAMP) redis-server wrk
	$(BIN)/python -m benchmarks

# deploy/ without Docker or a cluster: manifest schemas, compose wiring, image lint, systemd, redis.conf
deploy-check: $(STAMP) redis-server
	$(BIN)/pytest -q tests/unit/test_deploy.py tests/unit/test_deploy_compose.py \
	    tests/integration/test_deploy_image.py tests/integration/test_deploy_host.py

test-fast: install
	$(BIN)/pytest -m "not e2e"

# Drift ahead of time: the newest versions pyproject.toml allows, in a venv of their own, then
# lint, mypy and the tests (less the ones that hold the venv to the lock). Not part of `test`.
LATEST := .venv-latest
test-latest: redis-server chromium rabbitmq-server wrk
	rm -rf $(LATEST)
	$(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install --quiet --upgrade pip setuptools
	$(LATEST)/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -e '.[sandbox,dev]'
	$(LATEST)/bin/python -m pip freeze --all --exclude-editable > $(LATEST)/versions.txt
	$(LATEST)/bin/ruff check .
	$(LATEST)/bin/ruff format --check .
	$(LATEST)/bin/mypy
	$(LATEST)/bin/pytest -m "not locked_env"

clean:
	rm -rf $(VENV) $(LATEST) .pytest_cache .mypy_cache .ruff_cache .demo
