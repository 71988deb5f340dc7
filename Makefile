# carelog: `make run` serves on the embedded default, `make test` runs everything.
# Both start from a fresh clone: they create .venv, install the project (which
# compiles the native validator through cffi) and, for tests, start PostgreSQL
# and a Kafka broker on 127.0.0.1 (installed when missing), stopped at the end.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.carelog-installed
NATIVE := $(wildcard native/src/*.c native/include/*.h) native/build_validator.py
PYTEST_ARGS ?=
BENCH_ARGS ?=

.PHONY: install run test lint services-up services-down clean bench bench-scale sanitize fuzz contract-newest fhir-validator

$(STAMP): pyproject.toml setup.py $(NATIVE)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,kafka]'
	@touch $@

install: $(STAMP)

run: install
	$(BIN)/carelog serve

services-up:
	bash .ci/chromium.sh
	bash .ci/services.sh up

services-down:
	bash .ci/services.sh down

# The services are stopped whatever pytest's outcome; pytest's exit code is kept.
# mypy's settings are in pyproject.toml ([tool.mypy]).
test: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	bash native/sanitize.sh
	bash native/fuzz.sh
	bash .ci/chromium.sh
	bash .ci/fhir-validator.sh build >/dev/null
	bash .ci/services.sh up
	set -a; . var/services/env; set +a; \
	$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	bash .ci/contract-newest.sh; \
	bash .ci/services.sh down; exit $$rc

# HAPI's FhirInstanceValidator (R4, offline), which pytest runs over every FHIR body the
# tests received (tests/fhir_validation.py): jars from Maven Central, fetched and compiled
# once (.ci/fhir-validator.sh). `make test` builds it before pytest.
fhir-validator:
	bash .ci/fhir-validator.sh build >/dev/null

# tests/contract against the newest eventsourcing on PyPI (also run by `make test`):
# prints what breaks, never fails the build by itself (.ci/contract-newest.sh).
contract-newest: install
	bash .ci/contract-newest.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/ruff format --check .

# Every benchmark against its peers (python-hl7, a bare MLLP server, hl7apy,
# eventsourcing's plain application), written to docs/benchmarks.md: about ten
# minutes on two cores, plus the FHIR searches at 100k patients / 1M observations
# on SQLite and PostgreSQL (started here, stopped at the end; about ten more);
# `make bench BENCH_ARGS=--quick` for a few minutes; one part alone, its section
# replaced in place: `make bench BENCH_ARGS="--only 'FHIR search'"`.
bench: install
	CARELOG_SERVICES=postgres bash .ci/services.sh up
	set -a; . var/services/env; set +a; \
	nice $(BIN)/python -m bench $(BENCH_ARGS); rc=$$?; \
	CARELOG_SERVICES=postgres bash .ci/services.sh down; exit $$rc

# PostgreSQL (1 and 2 serve processes) and Kafka relay lag vs SQLite, in one run.
bench-scale: install
	bash .ci/chromium.sh
	bash .ci/services.sh up
	set -a; . var/services/env; set +a; \
	$(BIN)/python -m bench.scale; rc=$$?; \
	bash .ci/services.sh down; exit $$rc

# The C validator under ASan+UBSan: its C tests and the Python native tests
# (native/sanitize.sh); libFuzzer for FUZZ_SECONDS, default 60 (native/fuzz.sh,
# installs clang from Debian when missing). Both run inside `make test`.
sanitize: install
	bash native/sanitize.sh

fuzz: install
	bash native/fuzz.sh

clean:
	-bash .ci/services.sh down
	rm -rf $(VENV) build *.egg-info native/_validator.* var
