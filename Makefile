# The README's two set-up commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.explainr-installed

.PHONY: demo test lint bench wheel clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/explainr demo

test: $(STAMP)
	$(BIN)/ruff check explainr tests benchmarks examples models
	$(BIN)/lint-imports
	# one test process per core (pytest-xdist), one torch thread each: small
	# models on shared cores run fastest single-threaded (see shared/BENCHMARKS.md)
	OMP_NUM_THREADS=1 $(BIN)/python -m pytest -q -n auto --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check explainr tests benchmarks examples models
	$(BIN)/ruff format --check explainr tests benchmarks examples models

# The wheel a user installs: explainr with the zoo inside (see setup.py), into dist/.
wheel: $(STAMP)
	$(BIN)/python -m pip wheel -q --no-deps -w dist .

bench: $(STAMP)
	$(BIN)/python benchmarks/record_overhead.py
	$(BIN)/python benchmarks/attribution.py
	$(BIN)/python benchmarks/report_size.py
	$(BIN)/python benchmarks/dataset.py --windows 512 --shap-windows 128
	$(BIN)/python benchmarks/global_report.py
	$(BIN)/python benchmarks/patch_shap.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache *.egg-info build dist explainr/_zoo_data
