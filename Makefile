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

# Two workers, one test file each at a time: most tests wait on real processes
# (brokers, servers, Chromium), so this halves the run on a 2-core machine.
test: $(VENV)/.installed system-deps
	$(PY) -m pytest -q -p no:cacheprovider -n 2 --dist loadfile

bench: $(VENV)/.installed system-deps
	$(PY) -m bench

soak: $(VENV)/.installed system-deps
	$(PY) bench/soak.py

clean:
	rm -rf $(VENV) build *.egg-info
