# The two commands of the README: `make run` and `make test`.
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint typecheck pytest fuzz bench bench-search clean ig

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need Python 3.11 ($(PYTHON)) on PATH"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

## make run: start the server on the embedded SQLite store with the demo data loaded
run: $(STAMP)
	$(BIN)/mhs-fhir serve --demo

## make test: ruff, mypy and pytest
test: lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

## make fuzz: the fuzzers of `make test` at length (MHS_FHIR_FUZZ_EXAMPLES examples per property)
fuzz: $(STAMP)
	MHS_FHIR_FUZZ_EXAMPLES=$${MHS_FHIR_FUZZ_EXAMPLES:-5000} $(BIN)/pytest \
		tests/reliability/test_fuzz_openapi.py tests/reliability/test_fuzz_parsers.py \
		tests/fhir_server/validation/test_models.py

## make bench: CRUD throughput against a bare Starlette + SQLite ceiling (bench/README.md)
bench: $(STAMP)
	$(BIN)/python bench/crud.py

## make bench-search: portal searches at 10k and 1M resources
bench-search: $(STAMP)
	$(BIN)/python bench/search.py

clean:
	rm -rf $(VENV) var .mypy_cache .pytest_cache .ruff_cache *.egg-info

## make ig: rebuild the implementation guide (ig/input/fsh -> ig/fsh-generated) with SUSHI;
## needs Node.js and npm (the server and the tests do not)
ig:
	tools/build_ig.sh
