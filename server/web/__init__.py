"""The web layer: the FastAPI app, authentication, routers, templates and static files.
The only place that knows HTTP; may import every other server folder."""
