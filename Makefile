# riskcast: two commands do everything on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= data/demo
DEMO_WAREHOUSES ?= 60
DEMO_DAYS ?= 1096
DEMO_START ?= 2023-01-02
PYTEST_ARGS ?=

.PHONY: install demo test lint bench clean

$(STAMP): pyproject.toml constraints.txt
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	@# torch first, pinned to the CPU build, so nothing can pull a multi-GB CUDA wheel
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

demo: install
	@bash scripts/demo.sh

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check forecasting plugins dags tests bench
	$(BIN)/hadolint docker/*.Dockerfile

bench: install
	$(BIN)/python bench/ingest.py

clean:
	rm -rf data/demo data/lake data/airflow data/reserves.db
