# shelfwise developer commands. `make demo` and `make test` create .venv when it is missing.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test lint pytest bench clean generative-model

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/shelfwise demo --out demo-output

test: lint pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

pytest: $(STAMP)
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev,bench]"
	$(BIN)/python benchmarks/run.py

# Retrain the small diffusion checkpoint shipped in the package (about 20 min on 2 cores).
generative-model: $(STAMP)
	$(BIN)/shelfwise generate train --synthetic-seed 0 --iterations 3000 --for-inference \
		--out src/shelfwise/generative/assets/default

clean:
	rm -rf $(VENV) demo-output .pytest_cache .mypy_cache .ruff_cache
