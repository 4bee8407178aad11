# autoembed: `make demo` shows the pipeline end to end on a local stack,
# `make test` runs lint, pgTAP and pytest. Both install what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SUPABASE_CLI := .tools/node_modules/.bin/supabase
SUPABASE_VERSION := 2.117.0
# Vercel CLI: `vercel build` (tests/integration/test_vercel_build.py) builds the deployment.
VERCEL_CLI := .tools/node_modules/.bin/vercel
VERCEL_VERSION := 48.12.1
TORCH_VERSION := 2.13.0

.PHONY: setup system demo dev dev-stop test lint bench soak clean

setup: system $(VENV)/.installed $(SUPABASE_CLI) $(VERCEL_CLI)

system:
	@bash scripts/install_system.sh >/dev/null

# torch is pinned first: an unpinned one, pulled in by sentence-transformers,
# would be a CUDA build of several GB.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check --upgrade pip
	$(VENV)/bin/pip install -q --disable-pip-version-check torch==$(TORCH_VERSION)
	$(VENV)/bin/pip install -q --disable-pip-version-check -e '.[local,dev]'
	touch $@

$(SUPABASE_CLI):
	npm install --silent --no-audit --no-fund --prefix .tools supabase@$(SUPABASE_VERSION)

$(VERCEL_CLI):
	npm install --silent --no-audit --no-fund --save-exact --prefix .tools vercel@$(VERCEL_VERSION)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/sqlfluff lint --disable-progress-bar supabase/migrations

test: lint
	$(PY) -m devstack.testrun
	bash scripts/check_package.sh

demo: setup
	$(PY) -m devstack.demo

# A local stack that stays up (database, migrations, stand-ins, autoembed serve
# with the local model) to try the CLI against; `make dev-stop` removes it.
dev: setup
	$(PY) -m devstack.dev up

dev-stop:
	$(PY) -m devstack.dev down

# Benchmarks are not tests: they print ratios and regenerate docs/benchmarks.md.
bench: setup
	$(VENV)/bin/pip install -q --disable-pip-version-check -e '.[bench,local]'
	$(PY) -m bench.run_all $(BENCH_ARGS)

# Processors, writers and provider faults together; prints one line, lost must be 0.
DURATION ?= 600
soak: setup
	$(PY) -m devstack.soak --duration $(DURATION)

clean:
	rm -rf $(VENV) .tools .mypy_cache .ruff_cache .pytest_cache
