# Two commands: `make run` and `make test`. Both bootstrap from nothing.
VENV ?= .venv
BIN := $(VENV)/bin
DATA_DIR ?= .firebox
HOST ?= 127.0.0.1
PORT ?= 8070

.PHONY: run test test-unit test-integration fuzz check lint bootstrap bench clean

bootstrap: $(VENV)/.bootstrapped

$(VENV)/.bootstrapped: pyproject.toml scripts/bootstrap.sh scripts/node/package-lock.json scripts/node-sdk/package-lock.json scripts/serverless/package-lock.json \
		examples/thumbnails/requirements.txt examples/http-api/requirements.txt
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

# The fuzz suite with a longer budget and a fresh seed (CI runs a short, fixed one):
# FUZZ_EXAMPLES=20000 FUZZ_SEED=1234 make fuzz repeats a run.
FUZZ_EXAMPLES ?= 5000
FUZZ_SEED ?= $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')
fuzz: bootstrap
	FIREBOX_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) FIREBOX_FUZZ_SEED=$(FUZZ_SEED) \
		$(BIN)/pytest -s tests/system/test_fuzz.py --timeout 0 $(PYTEST_ARGS)

bench: bootstrap
	bash scripts/bootstrap.sh --bench $(VENV)
	cd bench && ../$(BIN)/python invoke_bench.py && ../$(BIN)/python sqs_bench.py && ../$(BIN)/python s3_bench.py && ../$(BIN)/python sns_bench.py && ../$(BIN)/python events_bench.py && ../$(BIN)/python node_bench.py && ../$(BIN)/python layers_bench.py && ../$(BIN)/python validation_bench.py && ../$(BIN)/python isolation_bench.py && ../$(BIN)/python coldstart_bench.py && ../$(BIN)/python async_bench.py && ../$(BIN)/python keepalive_sim.py && ../$(BIN)/python http_bench.py && ../$(BIN)/python rootless_bench.py && ../$(BIN)/python auth_bench.py && ../$(BIN)/python deploy_bench.py && ../$(BIN)/python metrics_bench.py

# Also firebox's cache (compiled helpers, the bundled SDK), which every checkout shares.
clean:
	rm -rf $(VENV) build src/*.egg-info "$${XDG_CACHE_HOME:-$$HOME/.cache}/firebox"
