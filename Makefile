# invoicebridge: `make demo` runs the whole thing on sample orders; `make test` proves it.
SHELL := /bin/bash
VENV  := .venv
BIN   := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install redis-server demo test test-fast lint mypy format clean

install: $(STAMP) redis-server

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# A redis-server binary: found on PATH, else installed with apt-get when we are root.
redis-server:
	@if command -v redis-server >/dev/null 2>&1; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing redis-server with apt-get"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	else \
	  echo "redis-server is not installed. Install it, e.g.: sudo apt-get install redis-server" >&2; \
	  exit 1; \
	fi

demo: install
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

test-fast: install
	$(BIN)/pytest -m "not e2e"

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .demo
