# The whole set-up: `make demo` (the main job) and `make test` (the suite). Both create .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test docs lint bench bench-wordnet clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $@

demo: $(VENV)/.installed
	$(BIN)/geo run poincare_wordnet --workdir runs/demo-mammals dataset=mammals

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -n 2 --dist loadfile

# The documentation and its API reference (MkDocs + mkdocstrings), into site/; warnings fail.
docs: $(VENV)/.installed-dev
	$(BIN)/mkdocs build --strict

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

# Side-by-side benchmarks need the PyTorch peer: torch (CPU build) and geoopt.
bench: $(VENV)/.installed-dev
	$(BIN)/pip install --quiet "torch==2.13.0" || $(BIN)/pip install --quiet torch
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/manifold_ops.py

bench-wordnet: $(VENV)/.installed-dev
	$(BIN)/pip install --quiet "torch==2.13.0" || $(BIN)/pip install --quiet torch
	$(BIN)/pip install --quiet -e ".[bench]"
	$(BIN)/python benchmarks/poincare_vs_geoopt.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis site
