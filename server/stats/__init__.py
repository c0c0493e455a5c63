"""Statistics: the pure measures, queries, pre-aggregates and their refresh, exports and
alerts. May import protocol/ and server.storage; no FastAPI."""
