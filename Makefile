# Two commands from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-all install bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) pyproject.toml
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/scalelab demo

# `make test` (what CI runs): every test except those marked `slow`, on both cores of CI's machine
# (pytest-xdist; tests/conftest.py keeps the users of one module fixture, and of the Epoch grid fit,
# on one worker). `make test-all` runs the slow ones too. pytest's exit code is make's.
PYTEST_WORKERS ?= 2
PYTEST := $(PY) -m pytest -q -ra -n $(PYTEST_WORKERS) --dist loadgroup

test: $(STAMP)
	$(PYTEST) -m "not slow"

test-all: $(STAMP)
	$(PYTEST)

bench: $(STAMP)
	$(PY) benchmarks/fit_speed.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info
