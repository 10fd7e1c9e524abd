# Two commands: `make run` and `make test`. Both bootstrap from nothing.
VENV ?= .venv
BIN := $(VENV)/bin
DATA_DIR ?= .firebox
HOST ?= 127.0.0.1
PORT ?= 8070

.PHONY: run test test-unit test-integration check lint bootstrap bench clean

bootstrap: $(VENV)/.bootstrapped

$(VENV)/.bootstrapped: pyproject.toml scripts/bootstrap.sh
	bash scripts/bootstrap.sh $(VENV)
	touch $@

run: bootstrap
	$(BIN)/firebox serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR)

check: bootstrap
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts
	$(BIN)/mypy

# All three tiers: unit, integration and system (the system tier needs root).
test: check
	$(BIN)/pytest $(PYTEST_ARGS)

# The fast tiers: in-process, no root, no network.
test-unit: bootstrap
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test-integration: bootstrap
	$(BIN)/pytest tests/unit tests/integration $(PYTEST_ARGS)

bench: bootstrap
	bash scripts/bootstrap.sh --bench $(VENV)
	cd bench && ../$(BIN)/python invoke_bench.py && ../$(BIN)/python isolation_bench.py && ../$(BIN)/python coldstart_bench.py && ../$(BIN)/python async_bench.py && ../$(BIN)/python keepalive_sim.py && ../$(BIN)/python http_bench.py

# Also firebox's cache (compiled helpers, the bundled SDK), which every checkout shares.
clean:
	rm -rf $(VENV) build src/*.egg-info "$${XDG_CACHE_HOME:-$$HOME/.cache}/firebox"
