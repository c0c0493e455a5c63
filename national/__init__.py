"""The national aggregator: roll-ups of every reception point into PostgreSQL, a read
API and dashboard pages (docs/national.md). Imports protocol only (and its libraries)."""
