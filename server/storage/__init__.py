"""Storage: the SQLite database, the event store, the ticket and counter projections,
group commit, the audit log and backups. May import protocol/ only; no FastAPI, no MQTT."""
