# medembed: `make install`, `make test`, `make bench`.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
DATA ?=
BENCH_ARGS ?=

.PHONY: install proto test test-unit test-integration lint bench bench-encoder bench-cache secrets clean

install: $(VENV)/.installed

$(VENV)/.installed: clients/python/pyproject.toml libs/decode/pyproject.toml services/encoder/pyproject.toml services/evaluator/pyproject.toml requirements-dev.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	# torch from this machine's wheel cache; a plain `torch` requirement would download a CUDA build
	$(PIP) install -q torch==2.14.1 torchvision==0.29.1
	$(PIP) install -q -r requirements-dev.txt
	$(PIP) install -q -e clients/python -e libs/decode -e 'services/encoder[open_clip,timm,hf,torchvision]' -e services/evaluator
	touch $@

proto: install
	$(PY) scripts/gen_proto.py

lint: install
	$(VENV)/bin/ruff check .

test: install
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q tests

bench: install
	$(PY) scripts/bench.py $(if $(DATA),--data $(DATA)) $(BENCH_ARGS)

bench-encoder: install
	$(PY) bench/encoder_throughput.py $(if $(DATA),--data $(DATA)) $(BENCH_ARGS)

bench-cache: install
	$(PY) bench/cache_speedup.py $(if $(DATA),--data $(DATA)) $(BENCH_ARGS)

secrets:  # Redis passwords, a token, a private CA and the encoders' certificate for the compose files
	deploy/secrets/generate.sh deploy/secrets

clean:
	rm -rf $(VENV) results .pytest_cache
