# Two commands on a fresh machine: `make demo` and `make test`. Both build .venv first;
# the demo installs tds alone, the tests add the dev tools.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.installed-runtime
DEV := $(VENV)/.installed-dev

.PHONY: demo test lint bench bench-spu bench-heu clean

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -qq --upgrade pip

$(RUNTIME): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install -qq -e .
	touch $(RUNTIME)

$(DEV): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install -qq -e ".[dev]"
	touch $(DEV) $(RUNTIME)

demo: $(RUNTIME)
	$(BIN)/tds demo healthcare

lint: $(DEV)
	$(BIN)/ruff check tds tests benchmarks examples conftest.py
	$(BIN)/ruff format --check tds tests benchmarks examples conftest.py

# README.md and docs/ run too (their snippets through Sybil), and the benchmark files at
# smoke sizes with timing off, so none of them can rot.
test: $(DEV) lint
	$(BIN)/pytest tests README.md docs
	TDS_BENCH_SMOKE=1 $(BIN)/pytest benchmarks --benchmark-disable -q

bench: $(DEV)
	$(BIN)/pytest benchmarks --benchmark-only --benchmark-columns=min,mean,median,rounds \
		--benchmark-sort=name -s
	-$(MAKE) bench-spu
	-$(MAKE) bench-heu

# SecretFlow's PSI, the C++ peer of the OPRF join, in an environment of its own: spu pins
# numpy below 2. Where it does not install, `make bench` goes on without it.
SPU_VENV := .venv-spu

$(SPU_VENV)/.installed:
	$(PYTHON) -m venv $(SPU_VENV)
	$(SPU_VENV)/bin/python -m pip install -qq "spu==0.9.5"
	touch $@

bench-spu: $(SPU_VENV)/.installed
	@for n in 65536 262144 1048576; do for protocol in ECDH RR22; do \
		$(SPU_VENV)/bin/python benchmarks/spu_psi.py $$n $$protocol 2>/dev/null | grep '^{'; \
	done; done

# SecretFlow's HEU, the C++ peer of tds's Okamoto-Uchiyama and Paillier, likewise apart.
HEU_VENV := .venv-heu

$(HEU_VENV)/.installed:
	$(PYTHON) -m venv $(HEU_VENV)
	$(HEU_VENV)/bin/python -m pip install -qq "sf-heu==0.5.2b0"
	touch $@

bench-heu:
	@$(MAKE) -s $(HEU_VENV)/.installed || { echo "sf-heu does not install here: HEU's numbers skipped"; exit 0; }; \
	$(HEU_VENV)/bin/python benchmarks/heu_he.py 2000

clean:
	rm -rf $(VENV) $(SPU_VENV) $(HEU_VENV) .pytest_cache .benchmarks .hypothesis build *.egg-info
