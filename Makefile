# xephang: `make demo` runs a whole reception point here; `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test test-clock bench soak system-deps clean lock

# constraints.txt holds the exact versions the tests passed with: every install uses it.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

# Refresh the lock on purpose: the newest versions pyproject.toml allows, installed in a
# fresh venv, written to constraints.txt (then run `make test` and commit both).
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install -q --upgrade pip
	.lock-venv/bin/python -m pip install -q -e '.[dev]'
	.lock-venv/bin/python scripts/lock.py constraints.txt
	rm -rf .lock-venv

system-deps:
	sh scripts/system-deps.sh test

demo: $(VENV)/.installed
	sh scripts/system-deps.sh demo
	$(VENV)/bin/xephang demo

# Two workers, one test file each at a time: most tests wait on real processes
# (brokers, servers, Chromium), so this halves the run on a 2-core machine.
# Then the time-sensitive suites again with the project clock moved (docs/testing.md).
test: $(VENV)/.installed system-deps
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest -q -p no:cacheprovider -n 2 --dist loadfile
	PY=$(PY) sh scripts/test-clock.sh

# Only the moved-clock reruns: a Sunday morning, 23:59:30 site-local, 400 days ahead.
test-clock: $(VENV)/.installed system-deps
	PY=$(PY) sh scripts/test-clock.sh

bench: $(VENV)/.installed system-deps
	$(PY) -m bench

soak: $(VENV)/.installed system-deps
	$(PY) bench/soak.py

clean:
	rm -rf $(VENV) build *.egg-info
