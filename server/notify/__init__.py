"""Messages to citizens: "your turn is near", "please go to counter …", booking reminders.

triggers (what to say, when) → outbox (SQLite, once per ticket, kind and channel, with
retries and back-off) → channels (ticket page, file, Web Push, Zalo ZNS, SMS). The
notifier is fed by ingest (server/runtime.py). May import protocol/, server.storage,
server.desk and server.settings; never the web layer. docs/notifications.md.
"""
