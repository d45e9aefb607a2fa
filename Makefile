# ecgspec developer entry points. `make demo` and `make test` are the README's two commands.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch is installed first, on its own, so that ecgspec's `torch>=2.1` finds it satisfied.
# Here pip's find-links holds the CPU wheel of torch 2.13.0, which this picks. Elsewhere a
# plain PyPI install of torch on Linux is the multi-GB CUDA build: point pip at PyTorch's
# CPU wheel index with TORCH_PIP_ARGS="--index-url <that index>", or on a GPU machine use
# TORCH_SPEC=torch (or a CUDA build you already have).
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
DATA   ?= ../shared/data

.PHONY: install install-test demo test test-fast lint bench docs clean

# `install`: what running ecgspec needs (the demo, the command). `install-test`: that plus the
# test extra (pytest, hypothesis, torch-ecg for the parity tests, edfio), for `make test` and `make bench`.
$(BIN)/ecgspec: pyproject.toml ecgspec/readers/_digits.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.test-extra: $(BIN)/ecgspec
	$(BIN)/pip install -q -e ".[test,docs]"
	@touch $@

install: $(BIN)/ecgspec

install-test: $(VENV)/.test-extra

demo: install
	$(BIN)/python examples/demo.py --data $(DATA)

# the whole suite, every Hypothesis test at its full example count; the 25 slowest tests listed at the end
test: install-test lint
	HYPOTHESIS_PROFILE=full $(BIN)/python -m pytest -q --durations=25

lint: install-test
	$(BIN)/ruff check ecgspec tests benchmarks examples

# the tests not marked slow (pyproject: the kill, interrupt, cluster and fuzzing tests, those over ~5 s, and those
# over ~3 s whose path a quicker test covers), the other Hypothesis tests at a tenth of their examples (the dev
# profile, tests/helpers/fuzzing.py): at most a quarter of the whole suite's time
test-fast: install-test
	HYPOTHESIS_PROFILE=dev $(BIN)/python -m pytest -q -m "not slow"

# the documentation site, into build/site; any warning (a broken link, a missing page) is an error
docs: install-test
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet

bench: install-test
	$(BIN)/python benchmarks/bench.py --data $(DATA)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
