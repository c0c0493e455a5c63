# xephang: `make demo` runs a whole reception point here; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test bench soak system-deps clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

system-deps:
	sh scripts/system-deps.sh test

demo: $(VENV)/.installed
	sh scripts/system-deps.sh demo
	$(VENV)/bin/xephang demo

test: $(VENV)/.installed system-deps
	$(PY) -m pytest -q -p no:cacheprovider

bench: $(VENV)/.installed system-deps
	$(PY) -m bench

soak: $(VENV)/.installed system-deps
	$(PY) bench/soak.py

clean:
	rm -rf $(VENV) build *.egg-info
