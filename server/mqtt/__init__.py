"""MQTT on the server: ingest of every event into the store, and keypad commands.
May import protocol/, server.storage and server.desk; no FastAPI."""
