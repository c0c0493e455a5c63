"""The xephang server: MQTT ingest into SQLite, dispatch, desk console, dashboard.

`server.broker` has no third-party imports so a broker-only Pi can use it; FastAPI is
imported only by `server.app` and `server.routes`.
"""
