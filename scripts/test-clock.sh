#!/bin/sh
# Rerun the time-sensitive suites with the project's own clock moved (protocol/clock.py)
# to a Sunday morning, 23:59:30 site-local and a date more than a year ahead, computed
# from today's real date (scripts/clock_origins.py). Called by `make test` after the
# normal run; which suites and why: docs/testing.md. Stops at the first failing run.
set -eu
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
# Every suite that reads a clock or builds data on a date: the server (dispatch, day-end,
# stats, alerts, desk and dashboard in Chromium), kiosk numbering and its day, the
# kiosk's queue view and outbox, and the reliability runs with real child processes.
# Left out, reading no clock: two volume tests (10,000 shuffled events, 100,000
# malformed payloads), the pure properties, bad config files, poison payloads, API docs.
SUITES=${XEPHANG_CLOCK_SUITES:-"tests/protocol/test_clock.py tests/server tests/reliability
	tests/kiosk/test_numbering.py tests/kiosk/test_service.py tests/kiosk/test_app.py
	tests/kiosk/test_queue_view.py tests/kiosk/test_recovery.py tests/kiosk/test_outbox_delivery.py
	tests/kiosk/test_second_visit.py
	--deselect tests/server/test_ingest.py::test_ten_thousand_events_with_duplicates_shuffled_end_exactly_once
	--deselect tests/reliability/test_fuzz.py::test_hundred_thousand_malformed_payloads_are_rejected_and_valid_traffic_flows
	--ignore tests/reliability/test_properties.py --ignore tests/reliability/test_bad_config.py
	--ignore tests/reliability/test_poison.py --ignore tests/server/test_api_docs.py"}
# XEPHANG_CLOCK_RUNS="midnight far" runs only those (default: all three).
RUNS=${XEPHANG_CLOCK_RUNS:-"sunday midnight far"}
"$PY" scripts/clock_origins.py | while read -r name origin; do
	case " $RUNS " in *" $name "*) ;; *) continue ;; esac
	echo "== make test: clock moved to $origin ($name) =="
	start=$(date +%s)
	# ORIGIN alone: tests/conftest.py fixes EPOCH at session start (speedup 1), and
	# every server, kiosk and board the tests start inherits it.
	# shellcheck disable=SC2086
	env -u XEPHANG_CLOCK_EPOCH -u XEPHANG_CLOCK_SPEEDUP XEPHANG_CLOCK_ORIGIN="$origin" \
		"$PY" -m pytest -q -p no:cacheprovider -n 2 --dist loadfile $SUITES
	echo "== clock $name passed in $(( $(date +%s) - start )) s =="
done
