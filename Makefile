# Two entry points: `make run` (set up + run the main job) and `make test` (set up + all tests).
# Everything installs into .venv/ and .cache/ (both ignored); the second run reuses them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.8
STAMP := $(VENV)/.installed
COMPOSE_GO := github.com/compose-spec/compose-go/v2
COMPOSE_GO_VERSION := v2.16.2
COMPOSE_SPEC := .cache/bin/compose-spec

.PHONY: help setup tools browser prepare-host run stop test lint bench lock es-start es-stop clean airflow-start airflow-stop

help:
	@echo "make run   - set up everything, start the embedded node and Airflow (UI on 127.0.0.1:8080);"
	@echo "             writes .cache/run/profile.env, the settings every ingest command then reads"
	@echo "             (ingest config show); ports: AIRFLOW_PORT=8080, DEMO_PORT=8765, BIND_HOST=127.0.0.1"
	@echo "make run DEMO=1 - the same, plus the bundled demo news site on loopback as the sources"
	@echo "             (its own index prefix: demo-*)"
	@echo "make test  - set up everything and run the whole test suite (TEST_WORKERS=2 processes);"
	@echo "             the developer's quick loop: .venv/bin/python -m pytest -m 'not slow'"
	@echo "make stop  - stop everything the project started"
	@echo "make bench - benchmarks (ratios against same-run baselines)"
	@echo "make lint  - ruff"
	@echo "make lock  - re-resolve requirements.lock from requirements.txt"

setup: tools browser $(STAMP)

# Maven and a JDK build the Elasticsearch plugin; a new machine of this kind has both, but
# install them from Debian if missing (root only, as on CI).
tools:
	@command -v mvn >/dev/null && command -v java >/dev/null || { \
	  echo "installing maven + JDK 17 from Debian"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven openjdk-17-jdk-headless; }

# The reading room's browser tests drive Debian's chromium (Playwright cannot download its own here).
browser:
	@command -v chromium >/dev/null || { \
	  echo "installing chromium from Debian"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

$(STAMP): requirements.txt requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ required"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -r requirements.txt -c requirements.lock
	$(BIN)/uv pip install -q --python $(BIN)/python --no-deps -e .
	touch $(STAMP)

# DEMO=1: serve the bundled demo feeds/pages on loopback and ingest those instead of the default list.
run: setup prepare-host
	$(BIN)/ingest es start
	$(BIN)/ingest es init
	$(if $(filter 1,$(DEMO)),bash ingest/ops/stack.sh demo-start)
	bash ingest/ops/stack.sh airflow-start $(if $(filter 1,$(DEMO)),--demo)

# Everything `make run` started, each by its pid file under .cache/ (Airflow, demo site, node).
stop:
	-bash ingest/ops/stack.sh airflow-stop
	-bash ingest/ops/stack.sh demo-stop
	-bash ingest/ops/stack.sh web-stop
	-$(BIN)/ingest es stop

airflow-start: setup
	bash ingest/ops/stack.sh airflow-start $(if $(filter 1,$(DEMO)),--demo)

airflow-stop:
	bash ingest/ops/stack.sh airflow-stop

# As root: the esnode system user and its folders (Elasticsearch refuses root); idempotent, quick.
prepare-host: setup
	$(BIN)/ingest es prepare-host

# Two xdist workers share one node (tests/conftest.py); a test file runs on one worker, so its module
# fixtures (the simulated day, the Airflow database) are built once (--dist loadfile; loadgroup's
# xdist_group marks have no effect with pytest 9.2 and xdist 3.8).
TEST_WORKERS ?= 2
test: setup prepare-host $(COMPOSE_SPEC)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile --durations=15

# The Compose Specification's reference loader validates docker-compose.yml where no Docker engine
# (and no `docker compose` plugin) exists; built from the Go module proxy when Go is available.
$(COMPOSE_SPEC):
	@if command -v go >/dev/null; then \
	  mkdir -p .cache/gobin && GOBIN=$(CURDIR)/.cache/gobin go install $(COMPOSE_GO)/cmd@$(COMPOSE_GO_VERSION) \
	  && mkdir -p $(@D) && mv .cache/gobin/cmd $@; \
	else echo "go not found: docker-compose.yml is validated without the compose-spec loader"; fi

lint: setup
	$(BIN)/ruff check .

bench: setup
	$(BIN)/python -m bench

lock:
	$(BIN)/uv pip compile requirements.txt -o requirements.lock --python-version 3.11 --quiet

clean: stop
	rm -rf $(VENV) .cache es/target
