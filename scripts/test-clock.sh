#!/bin/sh
# Rerun the time-sensitive suites with the project's own clock moved (protocol/clock.py)
# to a Sunday morning, 23:59:30 site-local and a date more than a year ahead, computed
# from today's real date (scripts/clock_origins.py). Called by `make test` after the
# normal run; which suites and why: docs/testing.md. Stops at the first failing run.
set -eu
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
SUITES=${XEPHANG_CLOCK_SUITES:-"tests/server tests/reliability tests/kiosk/test_numbering.py tests/kiosk/test_service.py tests/kiosk/test_app.py tests/kiosk/test_queue_view.py tests/kiosk/test_recovery.py tests/kiosk/test_outbox_delivery.py tests/xephang/test_simulate.py"}
"$PY" scripts/clock_origins.py | while read -r name origin; do
	echo "== make test: clock moved to $origin ($name) =="
	start=$(date +%s)
	# ORIGIN alone: tests/conftest.py fixes EPOCH at session start (speedup 1), and
	# every server, kiosk and board the tests start inherits it.
	# shellcheck disable=SC2086
	env -u XEPHANG_CLOCK_EPOCH -u XEPHANG_CLOCK_SPEEDUP XEPHANG_CLOCK_ORIGIN="$origin" \
		"$PY" -m pytest -q -p no:cacheprovider -n 2 --dist loadfile $SUITES
	echo "== clock $name passed in $(( $(date +%s) - start )) s =="
done
