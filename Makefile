# `make run`: the main job. `make test`: lint and the whole test suite.
# Both install what they need first (scripts/setup.sh is idempotent).
VENV := .venv
BIN := $(VENV)/bin
RULES ?= ../shared/fixtures/rules/falco_rules.yaml
EVENTS ?= examples/quickstart-events.jsonl

.PHONY: setup run test lint bench

setup:
	@bash scripts/setup.sh

# Until live capture lands, the main job replays recorded events against Falco's rules.
run: setup
	$(BIN)/lanner run -r $(RULES) -e $(EVENTS) $(ARGS)

lint: setup
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

test: lint
	$(BIN)/pytest -q

bench: setup
	$(BIN)/python bench/eval_rate.py
