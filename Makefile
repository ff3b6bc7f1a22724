# The two entry points README opens with:
#   make demo   create .venv, install archspec (core only), print the params/FLOPs table
#   make test   create .venv, install every extra, run the whole test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test install-core install-all lint bench docs-images clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install-core: $(BIN)/python
	$(BIN)/pip install --quiet -e .

# torch and torchvision are pinned to the builds this machine keeps on disk (pip's cap);
# jax/flax/optax/orbax to the versions checked in ../shared/FLAX.md.
install-all: $(BIN)/python
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet "jax[cpu]==0.10.2" flax==0.12.8 optax==0.2.8 orbax-checkpoint==0.12.8
	$(BIN)/pip install --quiet -e ".[all]"

demo: install-core
	$(BIN)/archspec flops specs/*.yaml specs/cifar/*.yaml

test: install-all
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

lint: install-all
	$(BIN)/ruff check archspec tests benchmarks
	$(BIN)/ruff format --check archspec tests benchmarks
	$(BIN)/mypy

bench: install-all
	$(BIN)/python benchmarks/bench_counts.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
