"""Schemathesis over the service's OpenAPI: generated requests never get a 5xx.

The service app runs in-process on a real Postgres (a fresh database); the hub's
token check is replaced by a fixed local user, as in the laptop store. (Driven
through schemathesis' operation strategies: its pytest plugin does not run on
pytest 9.)
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.support.fake_hub import AnyTokenUser
from tests.support.stripe_server import StripeServer


@pytest.fixture
def stripe_api():
    with StripeServer("sk_test_fuzz") as server:  # billing configured, against a local Stripe
        yield server


def test_no_server_errors_on_any_operation(database_url, stripe_api, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("STRIPE_SECRET_KEY", "sk_test_fuzz")
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", "whsec_fuzz")
    monkeypatch.setenv("STRIPE_API_BASE", stripe_api.url)
    monkeypatch.setenv("MATFOLD_BILLING_PRICE_RESEARCHER", "price_researcher")
    monkeypatch.setenv("MATFOLD_BILLING_PRICE_LAB", "price_lab")
    from matfold_services import PREFIX, create_app

    app = create_app()
    app.state.hub_auth = AnyTokenUser("fuzzer")
    schema = schemathesis.openapi.from_asgi(f"{PREFIX}/openapi.json", app)
    failures, operations = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck),
                  derandomize=True, database=None)
        def run(case):
            response = case.call(headers={"Authorization": "token local"})
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.formatted_path} {case.body!r}: "
                                f"{response.status_code} {response.text[:200]}")

        run()
    assert operations >= 15
    assert failures == []
