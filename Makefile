# mlrail: `make demo` runs the example pipeline, `make test` runs the tests.
# Both create .venv and the project's Airflow home (.airflow, SQLite) when missing.

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

# airflow standalone starts its components as `airflow ...` subprocesses found on PATH.
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export MLRAIL_HOME := $(CURDIR)/.mlrail
export AIRFLOW_HOME := $(CURDIR)/.airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__API__HOST := 127.0.0.1
export AIRFLOW__API__PORT ?= 8080
export TF_CPP_MIN_LOG_LEVEL := 2

DEMO_DATA := data/taxi_tips/trips.parquet
DEMO_ROWS ?= 200000

.PHONY: install airflow-home data demo run serve test lint airflow constraints clean postgresql \
	chromium screenshots

install: $(STAMP)

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check uv==0.13.9
	@# --compile-bytecode: Python reads the .pyc files even where PYTHONDONTWRITEBYTECODE is
	@# set (as on the CI machine); without them every process compiles what it imports again
	@# (import tensorflow: about 10 s of CPU instead of 3).
	$(VENV)/bin/uv pip install --python $(PY) --compile-bytecode -r requirements.txt -c constraints.txt
	$(VENV)/bin/uv pip install --python $(PY) --no-deps -e .
	@touch $@

airflow-home: $(AIRFLOW_HOME)/.ready

$(AIRFLOW_HOME)/.ready: $(STAMP) airflow_settings.yaml
	$(VENV)/bin/airflow db migrate > /dev/null
	$(PY) -m mlrail_airflow.settings_loader airflow_settings.yaml
	@touch $@

data: $(DEMO_DATA)

$(DEMO_DATA): | $(STAMP)
	$(PY) -m mlrail datagen --out $@ --rows $(DEMO_ROWS) --seed 0

# Triggers taxi_tips_training and waits while Airflow's scheduler runs it: the one of a
# running `make airflow`, else one the demo starts and stops. Task logs show in the UI.
demo: airflow-home data
	$(PY) -m mlrail_airflow.demo

# Runs any pipeline's DAG the same way: make run DAG=penguins_training (README, "Use your
# own data"); CONF='{"force": true}' passes the run's conf.
DAG ?= taxi_tips_training
run: airflow-home
	$(PY) -m mlrail_airflow.demo --dag-id $(DAG) $(if $(CONF),--conf '$(CONF)')

# Serves the demo's model (what `make demo` pushed) on http://127.0.0.1:8501, TF Serving's
# REST port: curl http://127.0.0.1:8501/v1/models/taxi_tips. Ctrl-C stops it.
SERVE_MODEL := taxi_tips
serve: install
	@ls $(MLRAIL_HOME)/serving/$(SERVE_MODEL)/*/saved_model.pb >/dev/null 2>&1 || \
	  { echo "no pushed version of $(SERVE_MODEL) in $(MLRAIL_HOME)/serving: run make demo first"; \
	    exit 1; }
	$(PY) -m mlrail serve --model $(SERVE_MODEL) --host 127.0.0.1 --port 8501

# Two test workers, one per core (TEST_WORKERS=0 runs in one process); tests that share a
# setup (an Airflow project, a trained model, servers) stay on one worker: --dist loadgroup.
TEST_WORKERS ?= 2
test: install postgresql chromium
	$(VENV)/bin/ruff check .
	$(VENV)/bin/pytest -n $(TEST_WORKERS) --dist loadgroup

# The metadata store is tested against a real PostgreSQL server, which the tests start
# themselves (tests/postgres.py); only the binaries need to be on the machine.
postgresql:
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] || { echo "install PostgreSQL (Debian: apt-get install postgresql)"; exit 1; }; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }

# mlrail's pages in the Airflow UI are tested in a real headless Chromium, which the tests
# start themselves (tests/browser.py); only the browser needs to be on the machine.
chromium:
	@command -v chromium >/dev/null || \
	  { [ "$$(id -u)" = 0 ] || { echo "install Chromium (Debian: apt-get install chromium)"; exit 1; }; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# README's pictures of the Airflow UI (docs/ui/*.png), taken by the browser tests of the
# pages against a real served project.
screenshots: install chromium
	MLRAIL_UPDATE_SCREENSHOTS=1 $(VENV)/bin/pytest -q tests/plugins/test_pages_browser.py

lint: install
	$(VENV)/bin/ruff check .

# Opens the Airflow UI on http://127.0.0.1:8080 (user admin, password in
# .airflow/simple_auth_manager_passwords.json.generated).
airflow: airflow-home
	$(VENV)/bin/airflow standalone

constraints: install
	$(VENV)/bin/uv pip freeze --python $(PY) --exclude-editable > constraints.txt

clean:
	rm -rf .airflow .mlrail data
