"""The xephang server: MQTT ingest into SQLite, dispatch, desk console, dashboard.

`broker.config` has no third-party imports so a broker-only Pi can use it; FastAPI is
imported only by `server.web.app` and `server.web.routes`.
"""
