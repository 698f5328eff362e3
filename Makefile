# catt: `make demo` runs the smart-home recipe end to end, `make test` runs the test suite.
# Both build .venv first. PYTHON picks the interpreter (default: pyenv's CPython 3.9.18, the one
# the pinned k2 wheel is built for); CONSTRAINTS picks the pins (empty: no pins, bring your own).

SHELL := /bin/bash
PYENV_PY := $(shell command -v pyenv >/dev/null 2>&1 && echo "$$(pyenv root)/versions/3.9.18/bin/python3.9")
PYTHON ?= $(if $(wildcard $(PYENV_PY)),$(PYENV_PY),python3.9)
CONSTRAINTS ?= requirements/constraints.txt
VENV := .venv
VPY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install espeak demo test lint format bench clean

install: $(STAMP) espeak

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "catt: $(PYTHON) not found; install CPython 3.9 (pyenv install 3.9.18) or pass PYTHON=/path/to/python" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install --quiet --upgrade pip
	$(VPY) -m pip install --quiet $(if $(CONSTRAINTS),-c $(CONSTRAINTS)) -e '.[dev]'
	@touch $(STAMP)

espeak:
	@bash scripts/ensure_espeak.sh

demo: install
	bash recipes/smarthome/run.sh --size tiny

test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/python -m pytest -q

lint: install
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: install
	bash benchmarks/run_all.sh

clean:
	rm -rf $(VENV)
