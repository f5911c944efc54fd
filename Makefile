# Two entry points: `make demo` and `make test`. Both create .venv when missing and
# install the project (with its dev extra) under constraints.txt; a stamp file makes a
# second run skip the install unless pyproject.toml or constraints.txt changed.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.install-stamp
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: demo test install lint bench clean check-wheel

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/toolkit demo --out demo_out

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The wheel, installed into a scratch venv, runs `toolkit data stats` and a short
# `run-scenario` from outside the repository (see .ci/check_wheel.py).
check-wheel: $(STAMP)
	$(BIN)/python .ci/check_wheel.py

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf demo_out .pytest_cache .ruff_cache
