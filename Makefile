# Two commands do all the set-up: `make demo` and `make test` (each creates .venv and installs when needed).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The packages the inference side is made of: mypy checks them strictly enough to catch real mistakes.
TYPED := src/dogbreeds/core src/dogbreeds/data src/dogbreeds/inference src/dogbreeds/catalog \
         src/dogbreeds/evaluation src/dogbreeds/cli src/dogbreeds/web

.PHONY: demo test test-fast lint messages docs clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/dogbreeds predict examples/photos

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)  # the tests under a few seconds each: a minute or so
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts benchmarks
	$(BIN)/ruff format --check src tests scripts benchmarks
	$(BIN)/lint-imports
	$(BIN)/mypy $(TYPED)
	$(BIN)/python scripts/messages.py --check

messages: $(STAMP)  # extract new texts into the .po catalogues; then translate what is new
	$(BIN)/python scripts/messages.py

docs: $(STAMP)  # the site in site/ (pictures drawn from the code first)
	$(BIN)/python scripts/architecture.py --out docs/generated
	rm -rf docs/generated/results && cp -r benchmarks/results docs/generated/results
	sed "s|](../docs/|](../|g" benchmarks/README.md > docs/generated/benchmarks.md
	$(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info site docs/generated
