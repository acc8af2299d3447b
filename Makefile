# Front door: `make up` runs the demo home, `make test` runs the suite.
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install up test lint bench chaos guests clean

install: $(STAMP)

# The lock file pins every package exactly (constraints), so CI installs what was tested.
$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c requirements.lock -e '.[dev,redis]'
	@touch $(STAMP)

up: install
	$(BIN)/jobico up --home .

lint: install
	$(BIN)/ruff check .

test: install lint
	$(BIN)/mypy --strict
	$(BIN)/pytest -q -m "not slow"

bench: install
	$(BIN)/python perf/bench.py

# The long chaos run (~70 s): -s prints its seed, plan and per-kill figures as it goes.
chaos: install
	$(BIN)/pytest -q -s tests/chaos -m slow

guests:
	$(MAKE) -C examples/guests

clean:
	rm -rf $(VENV) .jobico
