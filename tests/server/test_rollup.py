"""The province side of the national roll-ups (server/stats/rollup.py), on a real
Mosquitto and a real SQLite file: a finished day goes out, today never; a day is re-sent
until acknowledged and then no more; a late event makes a new revision; the rows equal
the province's own figures."""

from __future__ import annotations

import queue
import time
from datetime import datetime, timedelta

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from protocol import topics
from protocol.rollup import RollupAck, merged, parse_rollup, percentile_of_counts
from protocol.settings import load_settings
from server.settings import ServerSettings
from server.stats.measures import rules_from_sites
from server.stats.rollup import RollupPublisher
from server.stats.store import StatsStore
from server.storage.events import EventStore
from tests.support import SITE_ID, clock_from, server_settings_dict
from tests.synthetic import HANOI, ticket_lives

# The publisher's clock is pinned where the data is pinned (tests/support.clock_from).
TODAY_10H = datetime(2026, 4, 15, 10, 0, tzinfo=HANOI)
YESTERDAY = (TODAY_10H - timedelta(days=1)).date().isoformat()


def listener(broker) -> tuple[mqtt.Client, queue.SimpleQueue]:
    """A plain MQTT client that collects every roll-up published at the site."""
    got: queue.SimpleQueue = queue.SimpleQueue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="national-test-listener")
    client.username_pw_set("server", broker.passwords["server"])
    subscribed = queue.SimpleQueue()
    client.on_message = lambda c, u, m: got.put((m.topic, m.payload))
    client.on_subscribe = lambda *a: subscribed.put(True)
    client.on_connect = lambda c, u, f, r, p: c.subscribe(topics.ALL_ROLLUPS, qos=1)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    subscribed.get(timeout=10)
    return client, got


def next_rollup(got: queue.SimpleQueue, timeout_s: float = 10.0):
    topic, payload = got.get(timeout=timeout_s)
    return topic, parse_rollup(payload)


def test_finished_days_go_out_until_acknowledged_and_late_events_make_a_revision(tmp_path, broker):
    settings = load_settings(ServerSettings, None, **server_settings_dict(broker, tmp_path / "x.db"))
    site = settings.site(SITE_ID)
    store = EventStore(tmp_path / "x.db", settings.sites)
    rules = rules_from_sites(settings.sites)
    store.append_local(ticket_lives(site, 40, TODAY_10H - timedelta(days=1, hours=2), seed=3))
    store.append_local(ticket_lives(site, 5, TODAY_10H - timedelta(hours=2), seed=4, kiosk="kiosk-2", server_source="s-2"))
    publisher = RollupPublisher(store, settings.sites, rules, "tinh-thu", settings.broker, "server", clock_from(TODAY_10H),
                                interval_s=3600, resend_s=0.3)
    client, got = listener(broker)
    publisher.link.start()
    try:
        assert publisher.link.wait_connected()
        publisher.step()
        topic, first = next_rollup(got)
        assert topic == topics.rollup(SITE_ID, YESTERDAY)
        assert (first.site, first.day.isoformat(), first.revision, first.province) == (SITE_ID, YESTERDAY, 1, "tinh-thu")
        # The rows are the province's own figures for that day, split by service and counter.
        own = StatsStore(store, rules).query(YESTERDAY, YESTERDAY, [SITE_ID], "site")[0]
        counts, histograms = merged(first.rows)
        assert counts["issued"] == own["issued"] == 40 and counts["received"] == own["received"]
        assert percentile_of_counts(histograms["wait"], 90) == own["wait_p90_s"]
        assert all(site.service(r.service) and site.counter(r.counter) for r in first.rows)
        # Today is not over: nothing of it was sent.
        assert publisher.backlog() == {"unacknowledged_days": 1, "days_to_compute": 1}

        # Not acknowledged: sent again once resend_s has passed, not before.
        publisher.step()
        assert publisher.published == 1
        time.sleep(0.35)
        publisher.step()
        assert next_rollup(got)[1].revision == 1 and publisher.published == 2

        # Acknowledged after the aggregator's commit: no more sending.
        client.publish(topics.rollup_ack(SITE_ID, YESTERDAY), RollupAck(site=SITE_ID, day=first.day, revision=1).payload(), qos=1)
        deadline = time.monotonic() + 10
        while publisher.backlog()["unacknowledged_days"] and time.monotonic() < deadline:
            publisher.step()
            time.sleep(0.05)
        assert publisher.backlog()["unacknowledged_days"] == 0
        time.sleep(0.35)
        publisher.step()
        assert publisher.published == 2 and got.empty()

        # A ticket of yesterday arrives late: revision 2, with it counted.
        store.append_local(ticket_lives(site, 1, TODAY_10H - timedelta(hours=20), seed=5, kiosk="kiosk-late", server_source="s-late"))
        publisher.step()
        topic, second = next_rollup(got)
        assert topic == topics.rollup(SITE_ID, YESTERDAY) and second.revision == 2
        assert merged(second.rows)[0]["issued"] == 41
        # The same day computed again without a change makes no new revision.
        revisions = publisher.revisions
        with store.writing() as conn:
            conn.execute("UPDATE rollup_outbox SET dirty = 1 WHERE site = ? AND day = ?", (SITE_ID, YESTERDAY))
        publisher.step()
        assert publisher.backlog()["days_to_compute"] == 1  # only today, still open
        assert publisher.revisions == revisions

        # The aggregator says it holds revision 7 of the day (our count restarted, say
        # from a restored backup): the day goes out again as revision 8.
        client.publish(topics.rollup_ack(SITE_ID, YESTERDAY), RollupAck(site=SITE_ID, day=first.day, revision=7).payload(), qos=1)
        deadline = time.monotonic() + 10
        third = second  # revision 2 may be re-sent meanwhile (never acknowledged)
        while third.revision == 2 and time.monotonic() < deadline:
            publisher.step()
            try:
                third = next_rollup(got, 0.05)[1]
            except queue.Empty:
                pass
        assert third.revision == 8 and merged(third.rows)[0]["issued"] == 41
    finally:
        publisher.link.stop()
        client.loop_stop()
        client.disconnect()
        store.close()
