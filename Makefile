# medembed: `make install`, `make test`, `make bench`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
DATA ?=
# the table's column for DATA; empty = the folder's name (make bench DATA=…/Dataset_BUSI_with_GT DATA_NAME=busi)
DATA_NAME ?=
PLAN ?= deploy/plans/bench.yaml
BENCH_ARGS ?=
# torch: PyPI's `torch==2.14.1` for Linux x86_64 is the CUDA build, about 5.5 GB in the venv even on
# a machine without a GPU (on this project's machines pip takes it, and torchvision, from the local
# disk). PyTorch's CPU-only wheels come from its own index, which this project's machines cannot
# reach; where it can be reached: TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu make install
TORCH_INDEX_URL ?=

.PHONY: install system-packages proto test test-quick lint bench bench-full bench-encoder bench-cache secrets clean

# The venv (torch, the project's packages, dev tools), then the system packages the tests need.
install: $(VENV)/.installed system-packages

system-packages:
	@bash scripts/system_packages.sh

$(VENV)/.installed: clients/python/pyproject.toml libs/decode/pyproject.toml libs/proto/pyproject.toml services/encoder/pyproject.toml services/evaluator/pyproject.toml requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "make install: medembed needs Python >= 3.11; $(PYTHON) is $$($(PYTHON) --version 2>&1). Run: make install PYTHON=python3.11" >&2; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(if $(TORCH_INDEX_URL),--index-url $(TORCH_INDEX_URL)) torch==2.14.1 torchvision==0.29.1
	$(PIP) install -q -r requirements-dev.txt
	$(PIP) install -q -e libs/proto -e clients/python -e libs/decode -e 'services/encoder[open_clip,timm,hf,torchvision]' -e services/evaluator
	touch $@

proto: $(VENV)/.installed
	$(PY) scripts/gen_proto.py

# mypy.ini: --strict over the client and medembed_proto (the typed packages they ship, py.typed).
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

# pytest-xdist: TEST_WORKERS processes, each test file whole on one of them (module fixtures start once).
TEST_WORKERS ?= 2
test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile tests

# A few minutes: lint and the fast unit tests (no servers, no model weights); `make test` before a merge.
QUICK_TESTS ?= tests/unit --ignore=tests/unit/encoder/families --ignore=tests/unit/decode/test_decode_fuzz.py -m "not slow"
test-quick: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(PY) -m pytest -q $(QUICK_TESTS)

# The demo needs only the venv: no Redis (on-disk vector cache), no browser.
bench: $(VENV)/.installed
	$(PY) scripts/bench.py --plan $(PLAN) $(if $(DATA),--data $(if $(DATA_NAME),$(DATA_NAME)=)$(DATA)) $(BENCH_ARGS)

bench-full: $(VENV)/.installed
	$(PY) scripts/bench.py --plan deploy/plans/bench-full.yaml $(if $(DATA),--data $(if $(DATA_NAME),$(DATA_NAME)=)$(DATA)) $(BENCH_ARGS)

bench-encoder: $(VENV)/.installed
	$(PY) bench/encoder_throughput.py $(if $(DATA),--data $(DATA)) $(BENCH_ARGS)

bench-cache: install
	$(PY) bench/cache_speedup.py $(if $(DATA),--data $(DATA)) $(BENCH_ARGS)

secrets:  # Redis passwords, a token, a private CA and the encoders' certificate for the compose files
	deploy/secrets/generate.sh deploy/secrets

clean:
	rm -rf $(VENV) results .pytest_cache
