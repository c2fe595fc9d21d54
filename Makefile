# `make run`: the main job. `make test`: lint and the whole test suite.
# Both install what they need first (scripts/setup.sh is idempotent).
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup run test lint bench

setup:
	@bash scripts/setup.sh

# The main job: live detection on this host (eBPF, as root) with Lanner's default rules.
run: setup
	$(BIN)/lanner run $(ARGS)

# ruff, then mypy (its configuration in pyproject.toml: strict on everything but
# lanner.services.sidekick and lanner.cli, which get the default checks)
lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

bench: setup
	$(BIN)/python bench/eval_rate.py
