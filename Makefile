# microdc: the two Quick start commands (`make demo`, `make test`) and the production start (`make run`).
# Every target creates .venv with a Python 3.12+ it finds by itself.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PORT   ?= $(or $(MICRODC_PORT),8000)
PYENV_ROOT ?= $(HOME)/.pyenv

# Django 6 needs Python 3.12+. Try python3.13/3.12 on PATH (a pyenv shim that cannot run counts as absent),
# then pyenv's installed versions, then plain python3 if it is new enough.
define FIND_PYTHON
for c in python3.13 python3.12 \
         $$(ls -d $(PYENV_ROOT)/versions/3.1[3-9]*/bin/python3 $(PYENV_ROOT)/versions/3.12*/bin/python3 2>/dev/null | sort -rV) \
         python3; do \
  if "$$c" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; then \
    command -v "$$c"; exit 0; fi; \
done; exit 1
endef

.PHONY: help venv demo run test lint bench clean

help:
	@echo "make demo   - install, migrate, seed a simulated site and serve it on http://127.0.0.1:$(PORT)"
	@echo "make test   - install and run the whole test suite"
	@echo "make run    - production start from environment variables (no simulated hardware)"
	@echo "make lint   - ruff"
	@echo "make bench  - run every benchmark in a short mode"

$(PY):
	@py="$$( $(FIND_PYTHON) )" || { \
	  echo "microdc needs Python 3.12 or newer, and none was found (tried python3.13, python3.12, pyenv, python3)." >&2; \
	  echo "Install one, e.g. 'apt-get install python3.12 python3.12-venv' or 'pyenv install 3.13', then re-run." >&2; \
	  exit 1; }; \
	echo "Using $$py ($$($$py --version))"; \
	"$$py" -m venv $(VENV)

# Reinstall only when the dependency list changed, so a second `make` is quick.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py backfill_demo
	MICRODC_PORT=$(PORT) $(PY) -m microdc.launcher --demo

run: $(STAMP)
	$(PY) manage.py migrate --noinput
	$(PY) manage.py collectstatic --noinput --verbosity 0
	$(PY) -m microdc.launcher

# The meter-protocol tests (real snmpd, sushy-static, pymodbus and Prometheus peers) run in a pytest process
# of their own: late in a long in-process run their SNMP reads were seen to time out (see README, Development).
METER_TESTS := tests/facility/sources

test: $(STAMP)
	$(PY) -m pytest --ignore=$(METER_TESTS) $(PYTEST_ARGS)
	$(if $(findstring $(METER_TESTS),$(PYTEST_ARGS)),,$(PY) -m pytest $(METER_TESTS))

lint: $(STAMP)
	$(VENV)/bin/ruff check microdc tests inventory benchmarks

# `make bench`: every benchmark in a short mode (smaller sizes, fewer rounds: a quick check that each runs and
# roughly where it stands). The README's figures come from each script run as its own docstring says.
BENCH_SHORT := \
  "telemetry_ingest.py" \
  "idle_memory.py --settle 10" \
  "alert_eval.py" \
  "pue_query.py" \
  "energy_ledger.py" \
  "energy_pilot_table.py" \
  "agent_cpu.py --n 200" \
  "meter_poll.py --meters 50 --rounds 2" \
  "model_scrape.py --endpoints 50 --seconds 20" \
  "ansible_overhead.py --runs 1 --events 50" \
  "dashboard_latency.py --clients 10 --posts 15" \
  "site_load.py --short"

bench: $(STAMP)
	@for b in $(BENCH_SHORT); do echo "== benchmarks/$$b"; $(PY) benchmarks/$$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
