# digitlib: `make dashboard` serves the product, `make test` runs every test. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= localhost
PORT ?= 8866
PYTEST_ARGS ?=
WORKERS ?= 2
MAX_KERNELS ?= 0

.PHONY: help install dashboard cluster test lint format bench train evaluate chromium haproxy clean

help:  ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | sed 's|$$(HOST)|$(HOST)|; s|$$(PORT)|$(PORT)|' | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m compileall -q digitlib  # read by every process, even where none may write it
	touch $(STAMP)

install: $(STAMP)  ## create .venv and install digitlib with its test extras

chromium: $(STAMP)  ## make sure a Chromium for the browser tests is there
	@$(BIN)/python -m digitlib.cli.chromium --install

haproxy: $(STAMP)  ## make sure HAProxy is there for make cluster and its tests (root: apt-get)
	@$(BIN)/python -m digitlib.cli.cluster --install-haproxy

cluster: $(STAMP) haproxy  ## SeaweedFS, WORKERS dashboard servers, HAProxy on http://$(HOST):$(PORT)
	$(BIN)/python -m digitlib.cli.cluster --workers $(WORKERS) --host $(HOST) --port $(PORT)

dashboard: $(STAMP)  ## serve the dashboard on http://$(HOST):$(PORT) (MAX_KERNELS=0: from memory)
	$(BIN)/python -m digitlib.dashboard.serve --host $(HOST) --port $(PORT) --max-kernels $(MAX_KERNELS)

test: $(STAMP) chromium haproxy  ## run the whole suite: unit, real-S3, browser and notebook tests
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)  ## ruff check and format check
	$(BIN)/ruff check digitlib tests benchmarks
	$(BIN)/ruff format --check digitlib tests benchmarks

format: $(STAMP)  ## ruff format and fix
	$(BIN)/ruff format digitlib tests benchmarks
	$(BIN)/ruff check --fix digitlib tests benchmarks

bench: $(STAMP)  ## run the benchmarks, write benchmarks/results/latest.json
	$(BIN)/digitlib bench

train: $(STAMP)  ## retrain the shipped models from the committed code (see models/README.md)
	$(BIN)/digitlib train --model all --seed 0 --out models
	$(BIN)/digitlib evaluate --models models --write models/metrics.json

evaluate: $(STAMP)  ## measure the shipped models against the targets
	$(BIN)/digitlib evaluate --models models

clean:  ## remove the virtual environment and caches
	rm -rf $(VENV) .pytest_cache .ruff_cache
