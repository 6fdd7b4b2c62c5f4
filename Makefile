# riskcast: two commands do everything on a fresh machine: `make demo` and `make test`;
# a third, `make stack`, runs the production-shaped stack locally (docker/stack/).
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

.PHONY: install demo test lint bench clean stack stack-down stack-test soak

$(STAMP): pyproject.toml constraints.txt
	@test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	@# torch first, pinned to the CPU build, so nothing can pull a multi-GB CUDA wheel
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[airflow,dev]'
	@touch $(STAMP)

install: $(STAMP)

# The embedded default: everything under data/ (landing, lake, reserves.db, Airflow home).
DATA := $(CURDIR)/data
DEMO_END = $(shell $(BIN)/python -c "import datetime as d; print(d.date.fromisoformat('$(DEMO_START)') + d.timedelta(days=$(DEMO_DAYS) - 1))")
# a run works on the day that ended before it became due: the runs of DEMO_END + 1 process DEMO_END.
# DEMO_END (2026-01-01) is a Thursday, not the Sunday a scheduled weekly run works on: the demo's
# first forecast week is the one under way (2025-12-29..2026-01-04), and its page says so
DEMO_RUN = $(shell $(BIN)/python -c "import datetime as d; print(d.date.fromisoformat('$(DEMO_START)') + d.timedelta(days=$(DEMO_DAYS)))")

demo: export RISKCAST_LANDING_URI = $(DATA)/demo/landing
demo: export RISKCAST_LAKE_URI = $(DATA)/lake
demo: export RISKCAST_RESERVES_URL = sqlite:///$(DATA)/reserves.db
demo: export RISKCAST_PII_KEY = $(shell cat $(DATA)/pii.key 2>/dev/null)
demo: export AIRFLOW_HOME = $(DATA)/airflow
demo: export AIRFLOW__CORE__DAGS_FOLDER = $(CURDIR)/dags
# empty: the plugin loads from the install's entry point (the repo folder as well logged
# "Plugin 'riskcast' already registered")
demo: export AIRFLOW__CORE__PLUGINS_FOLDER = $(DATA)/airflow/plugins
demo: export AIRFLOW__CORE__LOAD_EXAMPLES = False
# alert links name the Airflow UI's pages (`airflow standalone` serves them on this address)
demo: export RISKCAST_PUBLIC_BASE_URL ?= http://localhost:8080
demo: export RAY_AUTH_MODE = disabled
demo: export RAY_USAGE_STATS_ENABLED = 0
demo: export PATH := $(CURDIR)/$(BIN):$(PATH)

# The PII hashing key is a secret: made once per machine, kept out of git (data/ is ignored).
$(DATA)/pii.key:
	@mkdir -p $(DATA)
	@$(PYTHON) -c "import secrets; print(secrets.token_hex(32))" > $@
	@chmod 600 $@

# make demo prints each DAG task as it starts (the full logs stay in data/dag-*.log)
DEMO_TASK_LINE = s/.*\[DAG TEST\] starting task_id=\([^ ]*\).*/   .. task \1/p

demo: install $(DATA)/pii.key
	@echo "== 1/4 sample network: $(DEMO_WAREHOUSES) warehouses, $(DEMO_DAYS) days from $(DEMO_START), with faults and anomalies"
	riskcast demo-data --out $(DATA)/demo/landing --warehouses $(DEMO_WAREHOUSES) \
		--start $(DEMO_START) --days $(DEMO_DAYS) --seed 42 --faults --anomalies > $(DATA)/demo-data.json
	@echo "== 2/4 Airflow metadata database (SQLite in $(DATA)/airflow)"
	airflow db migrate > $(DATA)/airflow-migrate.log 2>&1
	@echo "== 3/4 riskcast_ingest: every day $(DEMO_START) .. $(DEMO_END) in one backfill run"
	@airflow dags test riskcast_ingest $(DEMO_RUN) -c '{"backfill_from": "$(DEMO_START)"}' \
		> $(DATA)/dag-ingest.log 2>&1 & pid=$$!; \
		tail -n +1 -F --pid=$$pid $(DATA)/dag-ingest.log 2>/dev/null | sed -nu "$(DEMO_TASK_LINE)"; \
		wait $$pid || { tail -n 40 $(DATA)/dag-ingest.log; exit 1; }
	@echo "== 4/4 riskcast_forecast for $(DEMO_END)"
	@airflow dags test riskcast_forecast $(DEMO_RUN) > $(DATA)/dag-forecast.log 2>&1 & pid=$$!; \
		tail -n +1 -F --pid=$$pid $(DATA)/dag-forecast.log 2>/dev/null | sed -nu "$(DEMO_TASK_LINE)"; \
		wait $$pid || { tail -n 40 $(DATA)/dag-forecast.log; exit 1; }
	@riskcast show --as-of $(DEMO_END)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check forecasting plugins dags tests bench
	$(BIN)/lint-imports
	$(BIN)/hadolint docker/*.Dockerfile

bench: install
	$(BIN)/python bench/ingest.py

# PostgreSQL, S3 (moto), SMTP, a Ray head + worker and Airflow 3 (api-server, scheduler,
# dag-processor, triggerer) as separate processes, riskcast installed from its wheel;
# logs and pid files under data/stack/ (docker/stack/up.sh says what each part is).
stack: install
	bash docker/stack/up.sh

stack-down:
	bash docker/stack/down.sh

# On that stack the scheduler runs both DAGs (ingest on its timetable, forecast on the bronze
# assets); tests/stack checks what they did, then replays 2 weeks of drops with catchup (the
# soak, below, in short). Slow (~20 min); the stack is stopped either way.
stack-test: install
	bash docker/stack/down.sh > /dev/null
	bash docker/stack/up.sh
	STACK_TEST=1 $(BIN)/python -m pytest -p no:cacheprovider tests/stack -m stack -v; rc=$$?; bash docker/stack/down.sh; exit $$rc

# The soak: the stack's scheduler works through SOAK_WEEKS weeks of daily drops with catchup
# (late, amended, missing and purged drops among them; docs/operations.md, "The soak").
SOAK_WEEKS ?= 8
soak: install
	bash docker/stack/down.sh > /dev/null
	bash docker/stack/up.sh
	STACK_TEST=1 SOAK_WEEKS=$(SOAK_WEEKS) $(BIN)/python -m pytest -p no:cacheprovider tests/stack/test_soak.py -m stack -v -s; rc=$$?; bash docker/stack/down.sh; exit $$rc

clean:
	rm -rf data/demo data/lake data/airflow data/reserves.db data/stack
