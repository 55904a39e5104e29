# The two commands a fresh machine needs: `make demo` (the main job) and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup browser demo test test-python lint bench bench-quick soak clean

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

# The test suite on another Python, from pyenv: make test-python PYTHON_VERSION=3.10 (a venv of its own, .venv-3.10).
test-python: $(STAMP)
	@interpreter="$$(ls -d "$$(pyenv root 2>/dev/null || echo $$HOME/.pyenv)"/versions/$(PYTHON_VERSION).*/bin/python 2>/dev/null | sort -V | tail -n 1)"; \
	if [ -z "$$interpreter" ]; then echo "Python $(PYTHON_VERSION) is not installed: pyenv install $(PYTHON_VERSION)" >&2; exit 1; fi; \
	test -x .venv-$(PYTHON_VERSION)/bin/python || "$$interpreter" -m venv .venv-$(PYTHON_VERSION); \
	.venv-$(PYTHON_VERSION)/bin/python -m pip install --quiet --upgrade pip && \
	.venv-$(PYTHON_VERSION)/bin/python -m pip install --quiet -e '.[dev]' && \
	.venv-$(PYTHON_VERSION)/bin/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check tornado_dynasession tests benchmarks examples
	$(BIN)/ruff format --check tornado_dynasession
	$(BIN)/mypy --strict tornado_dynasession

bench: $(STAMP)
	$(BIN)/python -m benchmarks

bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks --quick --output-dir $(or $(OUT),/tmp/tornado_dynasession-bench)

soak: $(STAMP)
	$(BIN)/python -m tests.soak

clean:
	rm -rf $(VENV) .venv-3.* node_modules .pytest_cache .mypy_cache .ruff_cache
