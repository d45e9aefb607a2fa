# ecgspec developer entry points. `make demo` and `make test` are the README's two commands.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The CPU wheel of torch: pinned so a bare machine never pulls a multi-GB CUDA build.
# On a GPU machine: make install TORCH_SPEC=torch  (or any CUDA build you already have).
TORCH_SPEC ?= torch==2.13.0
DATA   ?= ../shared/data

.PHONY: install demo test bench clean

$(BIN)/ecgspec: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[test]"
	@touch $@

install: $(BIN)/ecgspec

demo: install
	$(BIN)/python examples/demo.py --data $(DATA)

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python benchmarks/bench.py --data $(DATA)

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
