# Two commands for a fresh machine: `make run` (API on the embedded database) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test fuzz lint format schema bench bench-live clean

$(BIN)/python:
	scripts/system-packages venv
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[embedded,dev]"
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/cashcc serve

# The tests run real redis-server and nginx processes: installed here when missing.
# (`-n auto --dist loadfile` runs them on every core; not the default: timing-sensitive
# tests failed under the doubled load, see README.)
test: $(STAMP)
	scripts/system-packages redis nginx
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest

# The fuzz suite at depth: FUZZ_EXAMPLES examples per test, random seed (docs/security.md).
FUZZ_EXAMPLES ?= 200
fuzz: $(STAMP)
	FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/python -m pytest tests/test_fuzz_operations.py \
		tests/test_fuzz_documents.py tests/test_fuzz_http.py tests/test_fuzz_ws.py

lint: $(STAMP)
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

schema: $(STAMP)
	$(BIN)/python -c "from graph.schema import export_sdl; open('schema.graphql','w').write(export_sdl())"

# Benchmarks at a size that finishes within a few minutes; see README for the full size.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[embedded,dev,bench]"
	$(BIN)/python -m bench.ingest
	$(BIN)/python -m bench.chaos
# Live-view latency and memory per subscriber (needs redis-server); BENCH_ARGS=--quick for a short run.
bench-live: $(STAMP)
	$(BIN)/python bench/live.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
