# The two commands a newcomer needs: `make run` and `make test`. Both set everything up.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
CASES  ?= 200

.PHONY: install run test test-store bench lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The HTTP service on the embedded PostgreSQL (var/pgdata, database sip_demo). The first start
# loads $(CASES) synthetic cases through the real command path; every start prints the URLs (API
# docs, health, metrics, event stream) and development tokens. Ctrl-C stops it.
run: install
	$(BIN)/sip-ledger serve --demo --demo-cases $(CASES)

# The whole suite on a real PostgreSQL: SIP_TEST_DATABASE_URL if set, else the embedded server.
test: install
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/pytest

# Domain, storage and read-model (runner included) tests only (CI runs these a second time
# against another server version).
test-store: install
	$(BIN)/pytest tests/domain tests/adapters/store tests/projections

# All on the same server (SIP_BENCH_DATABASE_URL, else the embedded one in var/bench-pgdata);
# figures merged into var/bench.json. The read-model bench keeps its demo log (schema bench_log)
# between runs: the first run makes it, ~1.7 million events, which takes a while.
bench: install
	$(BIN)/python -m tests.benchmarks.run
	$(BIN)/python -m tests.benchmarks.legal_life
	$(BIN)/python -m tests.benchmarks.read_models
	$(BIN)/python -m tests.benchmarks.http
	$(BIN)/python -m tests.benchmarks.audit
	$(BIN)/python -m tests.benchmarks.as_of

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache .hypothesis
