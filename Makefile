# The two commands a fresh machine needs: `make demo` (the main job) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# requires-python's floor, for the lowest-bounds job
LOWEST_PYTHON := 3.10
LOWEST_VENV := .venv-lowest
# The store, codec and adapter tests: what the runtime dependencies' lower bounds can break.
LOWEST_TESTS := tests/test_store.py tests/test_refresh.py tests/test_backends.py tests/test_aiohttp_backend.py \
  tests/test_sigv4.py tests/test_codec.py \
  tests/test_codec_conformance.py tests/test_codecs_extra.py tests/test_sessions.py tests/test_mixin.py \
  tests/test_sanic.py tests/test_shared.py tests/test_users.py tests/test_express.py tests/test_telemetry.py \
  tests/test_adapters.py tests/test_asgi_aiohttp.py
# What proves the package on another Python beside the full suite: the store on every backend, the signer, the
# codecs and every adapter (CI runs these on the newest Python; the lowest-bounds job covers the oldest).
PYTHON_PROOF_TESTS := tests/test_store.py tests/test_backends.py tests/test_aiohttp_backend.py tests/test_sigv4.py \
  tests/test_codec.py tests/test_codec_conformance.py tests/test_codecs_extra.py tests/test_mixin.py \
  tests/test_sanic.py tests/test_shared.py tests/test_adapters.py tests/test_asgi_aiohttp.py
# What those tests import besides the package (no other dev tool: the dev extra needs newer dependencies).
# FastAPI and uvicorn serve the ASGI adapter's test app, on the starlette floor the constraints pin.
LOWEST_TEST_TOOLS := 'pytest>=8' 'pytest-asyncio>=0.24' 'pytest-timeout>=2.3' 'moto[server]>=5' 'opentelemetry-sdk>=1.30' \
  'fastapi>=0.115' 'uvicorn>=0.30'

# pyenv's newest installed Python $(1).x, or nothing.
pyenv_python = $(shell ls -d "$$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)"/versions/$(1).*/bin/python 2>/dev/null \
  | sort -V | tail -n 1)

.PHONY: setup browser demo test test-python test-proof test-moto test-lowest release-check lint bench bench-quick soak chaos clean

$(STAMP): pyproject.toml package.json package-lock.json
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	npm ci --no-audit --no-fund --loglevel=error
	@$(MAKE) --no-print-directory browser
	touch $(STAMP)

setup: $(STAMP)

# Debian's chromium for the browser test, where this user can install it (root with apt-get); never fatal: without
# it, `make test` skips that one test and says how to install it (under CI=true it fails instead).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium (Debian package) for the browser test"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	      || echo "chromium could not be installed: the browser test will be skipped"; \
	  else \
	    echo "chromium is not installed (apt-get install chromium as root): the browser test will be skipped"; \
	  fi; }

demo: $(STAMP)
	$(BIN)/python examples/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The test suite on another Python, from pyenv: make test-python PYTHON_VERSION=3.13 (a venv of its own, .venv-3.13);
# TESTS="tests/test_store.py ..." runs only those files.
test-python: $(STAMP)
	@interpreter="$(call pyenv_python,$(PYTHON_VERSION))"; \
	if [ -z "$$interpreter" ]; then echo "Python $(PYTHON_VERSION) is not installed: pyenv install $(PYTHON_VERSION)" >&2; exit 1; fi; \
	test -x .venv-$(PYTHON_VERSION)/bin/python || "$$interpreter" -m venv .venv-$(PYTHON_VERSION); \
	.venv-$(PYTHON_VERSION)/bin/python -m pip install --quiet --upgrade pip && \
	.venv-$(PYTHON_VERSION)/bin/python -m pip install --quiet -e '.[dev]' && \
	.venv-$(PYTHON_VERSION)/bin/python -m pytest -q $(TESTS)

# The store's conformance tests on every backend against moto in server mode, the second target beside dynalite.
# Deselected there, each for a reason of moto's or dynalite's own: moto answers a condition comparing a string
# Expires with a number with HTTP 500 (DynamoDB fails the condition); two user-index tests are about dynalite,
# which ignores an index added to a table and words its missing-index error its own way; and the tests named
# test_on_dynalite_*, which document dynalite's own answers (moto's are tested beside them).
MOTO_TESTS := tests/test_store.py tests/test_refresh.py tests/test_users.py tests/test_backends.py
MOTO_DESELECT := not (never_extends_a_malformed_item and expires and string) \
  and not ignores_an_added_index and not listing_on_a_table_without_the_index and not test_on_dynalite_
test-moto: $(STAMP)
	$(BIN)/python -m tests.on_moto -q $(MOTO_TESTS) -k "$(MOTO_DESELECT)"

# PYTHON_PROOF_TESTS on another Python: make test-proof PYTHON_VERSION=3.13
test-proof:
	@$(MAKE) --no-print-directory test-python PYTHON_VERSION=$(PYTHON_VERSION) TESTS="$(PYTHON_PROOF_TESTS)"

# The lowest versions pyproject.toml allows, pinned in .ci/lowest-constraints.txt (the package is built with the
# setuptools floor too), on the oldest Python (pyenv's LOWEST_PYTHON) in a venv of its own; then the LOWEST_TESTS.
# .ci/check_lowest.py prints what pip installed and fails unless it is exactly the floors.
test-lowest: $(STAMP)
	@interpreter="$(call pyenv_python,$(LOWEST_PYTHON))"; \
	if [ -z "$$interpreter" ]; then echo "Python $(LOWEST_PYTHON) is not installed: pyenv install $(LOWEST_PYTHON)" >&2; exit 1; fi; \
	test -x $(LOWEST_VENV)/bin/python || "$$interpreter" -m venv $(LOWEST_VENV)
	$(LOWEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LOWEST_VENV)/bin/python -m pip install --quiet -c .ci/lowest-constraints.txt setuptools wheel
	$(LOWEST_VENV)/bin/python -m pip install --quiet -c .ci/lowest-constraints.txt --no-build-isolation \
	  -e '.[sanic,asgi,aiohttp-web,aiodynamo,crypto,zstd,otel]' $(LOWEST_TEST_TOOLS)
	$(LOWEST_VENV)/bin/python .ci/check_lowest.py
	$(LOWEST_VENV)/bin/python -m pytest -q $(LOWEST_TESTS)

# Build the sdist and the wheel into a temporary folder, check what they hold, install the wheel alone in a clean
# venv ($(PY)) and serve the README's Tornado example from it against dynalite: .ci/release_check.py says more.
release-check: $(STAMP)
	$(BIN)/python .ci/release_check.py --python $(PY)

lint: $(STAMP)
	$(BIN)/ruff check tornado_dynasession tests benchmarks examples
	$(BIN)/ruff format --check tornado_dynasession
	$(BIN)/mypy --strict tornado_dynasession

# The documentation site, from docs/ into docs/_build/html (open index.html there). Warnings are errors, so a broken
# reference fails the build; -E rereads every page, so that a warning is never hidden by an earlier build.
.PHONY: docs
docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -q -E -b html docs docs/_build/html
	@echo "built docs/_build/html/index.html"

bench: $(STAMP)
	$(BIN)/python -m benchmarks

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks --quick --output-dir $(or $(OUT),/tmp/tornado_dynasession-bench)

soak: $(STAMP)
	$(BIN)/python -m tests.soak

# The long randomized history under faults (a short one is part of `make test`); its figures go to
# benchmarks/results/chaos.json. CHAOS_ARGS="--seed N --seconds S --browsers B" to vary it.
chaos: $(STAMP)
	$(BIN)/python -m tests.chaos $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) .venv-3.* $(LOWEST_VENV) node_modules .pytest_cache .mypy_cache .ruff_cache docs/_build
