# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(INSTALLED): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(INSTALLED)

demo: $(INSTALLED)
	$(BIN)/python examples/healthcare_data_space.py

lint: $(INSTALLED)
	$(BIN)/ruff check tds tests benchmarks examples
	$(BIN)/ruff format --check tds tests benchmarks examples

# The benchmark files run too, at smoke sizes with timing off, so they cannot rot.
test: $(INSTALLED) lint
	$(BIN)/pytest tests
	TDS_BENCH_SMOKE=1 $(BIN)/pytest benchmarks --benchmark-disable -q

bench: $(INSTALLED)
	$(BIN)/pytest benchmarks --benchmark-only --benchmark-columns=min,mean,median,rounds \
		--benchmark-sort=name -s

clean:
	rm -rf $(VENV) .pytest_cache .benchmarks .hypothesis build *.egg-info
