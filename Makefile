# The two entry points README opens with:
#   make demo   create .venv, install archspec (core only), print the params/FLOPs table
#   make test   install graphviz and Fashion-MNIST (apt) if missing, create .venv with every
#               extra, fuzz for a minute, run all tests
#   make fuzz   fuzz archspec.load (atheris) for MINUTES minutes (default 1)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test fuzz install-core install-all system-deps lint bench docs-images grammar clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install-core: $(BIN)/python
	$(BIN)/pip install --quiet -e .

# torch and torchvision are pinned to the builds this machine keeps on disk (pip's cap);
# jax/flax/optax/orbax to the versions checked in ../shared/FLAX.md. timm (a reference of
# the tests) without its dependencies, so that it cannot change torch; then its pure ones.
install-all: $(BIN)/python
	$(BIN)/pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(BIN)/pip install --quiet --no-deps timm==1.0.31
	$(BIN)/pip install --quiet huggingface_hub safetensors
	$(BIN)/pip install --quiet "jax[cpu]==0.10.2" flax==0.12.8 optax==0.2.8 orbax-checkpoint==0.12.8
	$(BIN)/pip install --quiet -e ".[all]"

demo: install-core
	$(BIN)/archspec flops specs/

# Debian packages, installed when missing: graphviz (`dot` renders the pictures) and
# dataset-fashion-mnist (the offline training data, /usr/share/datasets/fashion-mnist).
FASHION_MNIST := /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
system-deps:
	@missing=""; \
	command -v dot >/dev/null 2>&1 || missing="$$missing graphviz"; \
	[ -f $(FASHION_MNIST) ] || missing="$$missing dataset-fashion-mnist"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "missing Debian packages: run 'sudo apt-get install$$missing'" >&2; exit 1; fi; \
	fi

test: system-deps install-all
	$(MAKE) --no-print-directory fuzz MINUTES=1
	$(BIN)/python -m pytest -n 2 --dist loadgroup -q

# Coverage-guided fuzzing of archspec.load: an exception other than SpecError, an input
# over 2 s or over 1 GB fails the run; the input is kept in fuzz/crashes/.
MINUTES ?= 1
fuzz: install-all
	mkdir -p fuzz/corpus fuzz/crashes
	$(BIN)/python fuzz/fuzz_load.py -max_total_time=$$(( $(MINUTES) * 60 )) -timeout=2 \
	  -rss_limit_mb=1024 -artifact_prefix=fuzz/crashes/ fuzz/corpus specs tests/errors

lint: install-all
	$(BIN)/ruff check archspec tests benchmarks
	$(BIN)/ruff format --check archspec tests benchmarks
	$(BIN)/mypy

bench: install-all
	$(BIN)/python benchmarks/bench_counts.py
	$(BIN)/python benchmarks/bench_torch.py
	$(BIN)/python benchmarks/bench_flax.py
	$(BIN)/python benchmarks/bench_train.py

# The README's pictures (look at them before committing).
docs-images: system-deps install-core
	$(BIN)/pip install --quiet -e ".[graph]"
	$(BIN)/archspec graph specs/resnet34.yaml --detail blocks -o docs/resnet34_blocks.png
	$(BIN)/archspec graph specs/cifar/resnet20.yaml --detail layers -o docs/cifar_resnet20_layers.png

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache

# The grammar's LALR tables, shipped beside it (a test fails when they are stale).
grammar: install-core
	$(BIN)/python -m archspec.frontend.table
