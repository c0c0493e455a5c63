"""schemathesis against the server's own OpenAPI spec, in-process on the running app
(real broker, real SQLite): generated requests, valid and invalid, as an administrator,
a desk user and anonymous; not one may end in a server error (5xx)."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = 60


def _operations(app) -> list:
    # From the spec as a dict: loading it from the ASGI app would run its lifespan again.
    schema = schemathesis.openapi.from_dict(app.openapi())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20, "the schema lost operations"
    return operations


def test_no_generated_request_makes_a_server_error(office):
    app = office.client.app
    callers = {
        "admin": office.bearer("quan-tri"),
        "desk": office.bearer("can-bo-a"),
        "anonymous": {},
    }
    failures: list[str] = []
    calls = {"count": 0}
    for operation in _operations(app):

        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(), who=st.sampled_from(sorted(callers)))
        def run(case, who):
            # Through the test's own client: schemathesis's ASGI transport would start
            # the app's lifespan again per call (a second MQTT client "server").
            kwargs = case.as_transport_kwargs(headers=callers[who])
            if not kwargs.get("cookies"):
                kwargs.pop("cookies", None)
            response = office.client.request(**kwargs)
            calls["count"] += 1
            if not app.state.runtime.ingestor.link.connected.is_set():
                failures.append(f"broker link lost after {who} {case.method} {case.formatted_path} {case.body!r}"[:300])
                app.state.runtime.ingestor.link.connected.wait(5)
            if response.status_code >= 500:
                failures.append(f"{who} {case.method} {case.formatted_path} {case.query} -> "
                                f"{response.status_code} {response.text[:200]}")

        run()
    assert calls["count"] > 300
    assert failures == []
    health = office.client.get("/healthz").json()
    assert health["ok"] is True, health
