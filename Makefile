# The two commands of the README: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.9

.PHONY: demo test lint typecheck layers pytest bench bench-scale lock clean

$(BIN)/uv:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { echo "error: scoreline needs Python >= 3.11 (found '$(PYTHON)'; set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.runtime: $(BIN)/uv requirements/runtime.lock pyproject.toml
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements/runtime.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	@touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements/dev.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements/dev.lock
	@touch $@

demo: $(VENV)/.runtime
	$(BIN)/scoreline demo $(DEMO_DIR)

# Node tools and rsync for the tests that run the generated CI templates; Debian's chromium
# for the browser tests (Playwright drives it; its own browser download is not used); Debian's
# PostgreSQL for the team-tier tests (each run starts a throwaway cluster on 127.0.0.1).
tools/node_modules/.installed: tools/package.json tools/package-lock.json
	@command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null; }
	@command -v rsync >/dev/null || { apt-get update -qq && apt-get install -y -qq rsync >/dev/null; }
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null; }
	@command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }
	npm ci --prefix tools --no-audit --no-fund --silent
	@touch $@

test: $(VENV)/.dev tools/node_modules/.installed lint typecheck layers pytest

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(VENV)/.dev
	$(BIN)/mypy

layers: $(VENV)/.dev
	$(BIN)/lint-imports

pytest: $(VENV)/.dev tools/node_modules/.installed
	$(BIN)/pytest

$(VENV)/.bench: $(VENV)/.dev requirements/bench.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements/bench.lock
	@touch $@

bench: $(VENV)/.bench
	$(BIN)/python bench/cli_startup.py
	$(BIN)/python bench/orchestration.py
	$(BIN)/python bench/batch_transform.py
	$(BIN)/python bench/data_quality.py
	$(BIN)/python bench/performance_estimation.py
	$(BIN)/python bench/flavors.py

# Ray scale-out (issue 8): meant for a machine with 16 cores or more (the device tool's).
bench-scale: $(VENV)/.bench
	$(BIN)/python bench/scale_out.py

lock: $(BIN)/uv
	$(BIN)/uv pip compile pyproject.toml --quiet --generate-hashes --python-version 3.11 -o requirements/runtime.lock
	$(BIN)/uv pip compile pyproject.toml --quiet --generate-hashes --python-version 3.11 --extra dev -o requirements/dev.lock
	$(BIN)/uv pip compile pyproject.toml --quiet --generate-hashes --python-version 3.11 --extra dev --extra bench -o requirements/bench.lock

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache tools/node_modules .bench
