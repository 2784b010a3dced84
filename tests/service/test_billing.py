"""Stripe billing through the service's HTTP API, on a real Postgres.

Stripe's servers are out of reach here: checkout and portal calls go to a local stand-in
(``tests/stripe_server.py``) over real HTTP, and webhooks are signed with the test secret
exactly as Stripe signs them (``t=<unix time>,v1=<HMAC-SHA256 of "t.body">``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time

import pytest
import stripe
from sqlalchemy import func, select

from matfold_services.app import PREFIX
from matfold_services.models import StripeEvent, Subscription, User

from tests.support.fake_hub import TokenUsers
from tests.support.in_process import serve_in_process
from tests.support.stripe_server import StripeServer

KEY = "sk_test_matfold_" + "x" * 16
SECRET = "whsec_test_matfold"
PRICES = {"researcher": "price_test_researcher", "lab": "price_test_lab"}
RETURN_URL = "http://hub.example/hub/home"
TOKENS = {"tok-alice": "alice", "tok-bob": "bob"}
API = f"{PREFIX}/api"


@pytest.fixture
def stripe_api():
    with StripeServer(KEY) as server:
        yield server


@pytest.fixture
def env(database_url, stripe_api, monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("STRIPE_SECRET_KEY", KEY)
    monkeypatch.setenv("STRIPE_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("STRIPE_API_BASE", stripe_api.url)
    monkeypatch.setenv("MATFOLD_BILLING_PRICE_RESEARCHER", PRICES["researcher"])
    monkeypatch.setenv("MATFOLD_BILLING_PRICE_LAB", PRICES["lab"])
    monkeypatch.setenv("MATFOLD_BILLING_RETURN_URL", RETURN_URL)
    return monkeypatch


@pytest.fixture
def client(env):
    with serve_in_process(TokenUsers(TOKENS)) as test_client:
        yield test_client


def call(client, who, method, path, **kwargs):
    token = {name: tok for tok, name in TOKENS.items()}.get(who, who)
    headers = {"Authorization": f"token {token}"} if who else {}
    return client.request(method, f"{API}/{path}", headers=headers, **kwargs)


def sign(body: str, secret: str = SECRET, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header as https://docs.stripe.com/webhooks#verify-manually describes."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def event(kind: str, obj: dict, event_id: str | None = None) -> str:
    return json.dumps({
        "id": event_id or "evt_" + secrets.token_hex(12), "object": "event", "type": kind,
        "api_version": stripe.api_version, "created": int(time.time()), "livemode": False,
        "pending_webhooks": 1, "request": {"id": None, "idempotency_key": None}, "data": {"object": obj},
    })


def deliver(client, body: str, signature: str | None = None):
    headers = {"Content-Type": "application/json", "Stripe-Signature": signature or sign(body)}
    return client.post(f"{API}/billing/webhook", content=body, headers=headers)


def subscribe(client, stripe_api, who="alice", plan="researcher", status="active"):
    """Checkout, then the ``subscription`` object Stripe would make of it."""
    started = call(client, who, "POST", "billing/checkout", json={"plan": plan})
    assert started.status_code == 200, started.text
    return stripe_api.subscription(started.json()["id"], status)


def plan_of(client, who="alice"):
    answer = call(client, who, "GET", "billing/plan")
    assert answer.status_code == 200, answer.text
    return answer.json()


def events_stored(client) -> int:
    with client.db() as session:
        return session.scalar(select(func.count()).select_from(StripeEvent))


def test_our_signature_matches_stripes_own():
    body = event("customer.subscription.created", {"id": "sub_1"})
    header = stripe.WebhookSignature.generate_signature_header(body, SECRET, timestamp=1700000000)
    assert sign(body, timestamp=1700000000) == header


def test_checkout_calls_stripe_with_the_plans_price(client, stripe_api):
    answer = call(client, "alice", "POST", "billing/checkout", json={"plan": "researcher"})
    assert answer.status_code == 200, answer.text
    link = answer.json()
    assert link["id"].startswith("cs_test_") and link["plan"] == "researcher"
    assert link["url"] == stripe_api.objects[link["id"]]["url"]
    assert link["url"].startswith("https://checkout.stripe.com/")

    [customer] = stripe_api.calls("POST", "/v1/customers")
    assert customer["headers"]["Authorization"] == f"Bearer {KEY}"
    assert customer["form"]["metadata[matfold_user]"] == "alice"
    [made] = stripe_api.calls("POST", "/v1/checkout/sessions")
    form = made["form"]
    assert form["mode"] == "subscription"
    assert form["line_items[0][price]"] == PRICES["researcher"] and form["line_items[0][quantity]"] == "1"
    assert form["client_reference_id"] == "alice"
    assert form["metadata[plan]"] == "researcher" and form["subscription_data[metadata][matfold_user]"] == "alice"
    assert form["customer"].startswith("cus_") and form["customer"] in stripe_api.objects
    assert form["cancel_url"] == RETURN_URL

    # a second checkout (another plan) reuses the customer
    again = call(client, "alice", "POST", "billing/checkout", json={"plan": "lab"})
    assert again.status_code == 200, again.text
    assert len(stripe_api.calls("POST", "/v1/customers")) == 1
    second = stripe_api.calls("POST", "/v1/checkout/sessions")[1]["form"]
    assert second["customer"] == form["customer"] and second["line_items[0][price]"] == PRICES["lab"]
    assert plan_of(client)["plan"] == "free"  # nothing changes before Stripe's webhook


@pytest.mark.parametrize("plan", ["free", "gold", ""])
def test_checkout_refuses_plans_not_for_sale(client, stripe_api, plan):
    answer = call(client, "alice", "POST", "billing/checkout", json={"plan": plan})
    assert answer.status_code == 422, answer.text
    if plan:
        assert "researcher, lab" in answer.json()["detail"]
    assert stripe_api.requests == []


def test_signed_webhook_upgrades_plan_and_usage_limits(client, stripe_api):
    sub = subscribe(client, stripe_api)
    answer = deliver(client, event("customer.subscription.created", sub))
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "applied"

    plan = plan_of(client)
    assert plan["plan"] == "researcher" and plan["status"] == "active"
    assert plan["limits"] == {"monthly_folds": 100, "monthly_predictions": 50000}
    assert plan["current_period_end"] is not None
    usage = call(client, "alice", "GET", "usage").json()
    assert usage["plan"] == "researcher"
    assert usage["fold"]["limit"] == 100 and usage["prediction"]["limit"] == 50000
    assert plan_of(client, "bob")["plan"] == "free"  # only alice's

    # a running subscription is changed in the portal, not by a second checkout
    again = call(client, "alice", "POST", "billing/checkout", json={"plan": "lab"})
    assert again.status_code == 409 and "portal" in again.json()["detail"]


def test_subscription_deleted_goes_back_to_free(client, stripe_api):
    sub = subscribe(client, stripe_api, plan="lab")
    assert deliver(client, event("customer.subscription.created", sub)).status_code == 200
    assert plan_of(client)["plan"] == "lab"
    deleted = deliver(client, event("customer.subscription.deleted", {**sub, "status": "canceled"}))
    assert deleted.status_code == 200 and deleted.json()["plan"] == "free"
    plan = plan_of(client)
    assert plan["plan"] == "free" and plan["status"] == "canceled"
    assert plan["limits"] == {"monthly_folds": 10, "monthly_predictions": 1000}
    # a late 'updated' (Stripe does not order deliveries) does not bring the plan back
    late = deliver(client, event("customer.subscription.updated", sub))
    assert late.status_code == 200 and late.json()["status"] == "ignored"
    assert plan_of(client)["plan"] == "free"


def test_unpaid_subscription_loses_the_plan(client, stripe_api):
    sub = subscribe(client, stripe_api)
    assert deliver(client, event("customer.subscription.created", sub)).status_code == 200
    assert deliver(client, event("customer.subscription.updated", {**sub, "status": "unpaid"})).status_code == 200
    assert plan_of(client) | {"current_period_end": None} == {
        "plan": "free", "status": "unpaid", "current_period_end": None,
        "limits": {"monthly_folds": 10, "monthly_predictions": 1000}}


@pytest.mark.parametrize("forgery", ["wrong secret", "tampered body", "no header", "garbage header",
                                     "binary body"])
def test_forged_webhook_is_refused_and_changes_nothing(client, stripe_api, forgery):
    sub = subscribe(client, stripe_api)
    body = event("customer.subscription.created", sub)
    headers = {"Content-Type": "application/json"}
    if forgery == "wrong secret":
        headers["Stripe-Signature"] = sign(body, secret="whsec_attacker")
    elif forgery == "tampered body":
        headers["Stripe-Signature"] = sign(body)
        body = body.replace(PRICES["researcher"], PRICES["lab"])
    elif forgery == "garbage header":
        headers["Stripe-Signature"] = "v1=deadbeef"
    elif forgery == "binary body":
        headers["Stripe-Signature"] = sign(body)
        body = b"\xff\xfe" + body.encode()
    answer = client.post(f"{API}/billing/webhook", content=body, headers=headers)
    assert answer.status_code == 400, answer.text
    assert "Stripe-Signature" in answer.json()["detail"] or "not a Stripe event" in answer.json()["detail"]
    assert plan_of(client)["plan"] == "free"
    assert events_stored(client) == 0


def test_expired_signature_is_refused(client, stripe_api):
    sub = subscribe(client, stripe_api)
    body = event("customer.subscription.created", sub)
    old = int(time.time()) - stripe.Webhook.DEFAULT_TOLERANCE - 60
    answer = deliver(client, body, sign(body, timestamp=old))
    assert answer.status_code == 400 and "older than" in answer.json()["detail"]
    assert plan_of(client)["plan"] == "free" and events_stored(client) == 0


def test_replayed_event_is_not_applied_twice(client, stripe_api):
    sub = subscribe(client, stripe_api)
    created = event("customer.subscription.created", sub, event_id="evt_replayed")
    assert deliver(client, created).json()["status"] == "applied"
    lab = {**sub, "items": {**sub["items"], "data": [{**sub["items"]["data"][0], "price": {"id": PRICES["lab"]}}]}}
    assert deliver(client, event("customer.subscription.updated", lab)).json()["plan"] == "lab"

    # the first event again, freshly signed (a valid replay): acknowledged, not applied
    replay = deliver(client, created)
    assert replay.status_code == 200 and replay.json()["status"] == "duplicate"
    assert plan_of(client)["plan"] == "lab"
    assert events_stored(client) == 2


def test_event_for_an_unknown_price_is_refused_until_configured(client, stripe_api, env):
    sub = subscribe(client, stripe_api)
    odd = {**sub, "items": {**sub["items"], "data": [{**sub["items"]["data"][0], "price": {"id": "price_other"}}]}}
    body = event("customer.subscription.created", odd)
    answer = deliver(client, body)
    assert answer.status_code == 422 and "MATFOLD_BILLING_PRICE_RESEARCHER" in answer.json()["detail"]
    assert events_stored(client) == 0  # so Stripe's retry is processed once fixed
    env.setenv("MATFOLD_BILLING_PRICE_LAB", "price_other")
    assert deliver(client, body).json()["plan"] == "lab"


def test_unhandled_events_and_strangers_are_ignored(client, stripe_api):
    invoice = deliver(client, event("invoice.paid", {"id": "in_1", "object": "invoice"}))
    assert invoice.status_code == 200 and invoice.json()["status"] == "ignored"
    stranger = {"id": "sub_x", "object": "subscription", "customer": "cus_notours", "status": "active",
                "metadata": {}, "items": {"data": [{"price": {"id": PRICES["lab"]}}]}}
    answer = deliver(client, event("customer.subscription.created", stranger))
    assert answer.status_code == 200 and answer.json()["status"] == "ignored"
    with client.db() as session:
        assert session.scalar(select(func.count()).select_from(Subscription)) == 0
        assert session.scalar(select(func.count()).select_from(User).where(User.plan != "free")) == 0


def test_portal_returns_a_link(client, stripe_api):
    before = call(client, "alice", "POST", "billing/portal")
    assert before.status_code == 409 and "billing/checkout" in before.json()["detail"]
    subscribe(client, stripe_api)
    answer = call(client, "alice", "POST", "billing/portal")
    assert answer.status_code == 200, answer.text
    portal = answer.json()
    assert portal["id"].startswith("bps_") and portal["url"].startswith("https://billing.stripe.com/")
    [made] = stripe_api.calls("POST", "/v1/billing_portal/sessions")
    assert made["form"]["return_url"] == RETURN_URL
    assert made["form"]["customer"] == stripe_api.calls("POST", "/v1/checkout/sessions")[0]["form"]["customer"]


def test_missing_settings_say_which_variable(client, stripe_api, env):
    env.delenv("STRIPE_SECRET_KEY")
    for path in ("billing/checkout", "billing/portal"):
        answer = call(client, "alice", "POST", path, json={"plan": "researcher"})
        assert answer.status_code == 503 and "STRIPE_SECRET_KEY" in answer.json()["detail"], answer.text
    env.setenv("STRIPE_SECRET_KEY", KEY)
    env.delenv("MATFOLD_BILLING_PRICE_LAB")
    answer = call(client, "alice", "POST", "billing/checkout", json={"plan": "lab"})
    assert answer.status_code == 503 and "MATFOLD_BILLING_PRICE_LAB" in answer.json()["detail"]
    env.delenv("STRIPE_WEBHOOK_SECRET")
    body = event("invoice.paid", {"id": "in_1"})
    answer = deliver(client, body)
    assert answer.status_code == 503 and "STRIPE_WEBHOOK_SECRET" in answer.json()["detail"]
    assert stripe_api.requests == []


def test_a_key_stripe_refuses_is_reported(client, stripe_api, env):
    env.setenv("STRIPE_SECRET_KEY", "sk_test_revoked")
    answer = call(client, "alice", "POST", "billing/checkout", json={"plan": "researcher"})
    assert answer.status_code == 503 and "STRIPE_SECRET_KEY" in answer.json()["detail"]
    assert stripe_api.requests[0]["headers"]["Authorization"] == "Bearer sk_test_revoked"


@pytest.mark.parametrize("method, path", [("POST", "billing/checkout"), ("POST", "billing/portal"),
                                          ("GET", "billing/plan")])
@pytest.mark.parametrize("who", [None, "tok-unknown"])
def test_billing_needs_a_hub_user(client, stripe_api, method, path, who):
    answer = call(client, who, method, path, json={"plan": "researcher"})
    assert answer.status_code == 401, answer.text
    assert stripe_api.requests == []


def _state(client, user: str) -> tuple[str, str]:
    with client.db() as session:
        row = session.execute(select(User.plan, Subscription.status).join(Subscription, Subscription.user_id == User.id)
                              .where(User.name == user)).one()
        return row.plan, row.status


def test_reordered_events_end_on_the_newest_state_in_every_order(client, stripe_api):
    """Every permutation of each sequence (Stripe does not order deliveries), a fresh user each."""
    from tests.support.billing_orders import SEQUENCES, check_all_orders

    result = check_all_orders(lambda body: deliver(client, body).status_code, lambda user: _state(client, user),
                              PRICES, publish=stripe_api.set_subscription)
    assert result["sequences"] == len(SEQUENCES) and result["orders"] == 24 + 24 + 6 + 6 + 2 + 2 + 6 + 6 + 2
    assert result["wrong"] == []
    rereads = [r for r in stripe_api.requests if r["method"] == "GET" and r["path"].startswith("/v1/subscriptions/")]
    assert len(rereads) >= 4  # the full ties were settled by asking Stripe


def test_a_full_tie_without_an_api_key_keeps_the_first(client, stripe_api, env):
    from tests.support.billing_orders import events_for

    env.delenv("STRIPE_SECRET_KEY")
    bodies, _ = events_for([("updated", "active", "lab", 0), ("updated", "active", "researcher", 0)], "tia", PRICES)
    assert deliver(client, bodies[0]).json()["status"] == "applied"
    tie = deliver(client, bodies[1])
    assert tie.status_code == 200 and "STRIPE_SECRET_KEY" in tie.json()["reason"]
    assert _state(client, "tia") == ("lab", "active")


def test_a_late_created_incomplete_does_not_undo_a_payment(client, stripe_api):
    """The issue's case: updated(active) arrives, then the older created(incomplete)."""
    sub = subscribe(client, stripe_api)
    now = int(time.time())
    active = json.loads(event("customer.subscription.updated", sub))
    incomplete = json.loads(event("customer.subscription.created", {**sub, "status": "incomplete"}))
    active["created"], incomplete["created"] = now, now - 1
    assert deliver(client, json.dumps(active)).json()["status"] == "applied"
    late = deliver(client, json.dumps(incomplete))
    assert late.status_code == 200 and late.json()["status"] == "ignored" and "older" in late.json()["reason"]
    assert plan_of(client) | {"current_period_end": None} == {
        "plan": "researcher", "status": "active", "current_period_end": None,
        "limits": {"monthly_folds": 100, "monthly_predictions": 50000}}


@pytest.mark.parametrize("signature", ["t=1,v1=\xe9\xe9", "t=1,v1=" + "a" * 5000, "t=1\x01,v1=00", "\u2603"])
def test_any_signature_header_content_is_a_400(client, stripe_api, signature):
    body = event("customer.subscription.created", {"id": "sub_1"})
    answer = client.post(f"{API}/billing/webhook", content=body,
                         headers={"Stripe-Signature": signature.encode("utf-8"), "Content-Type": "application/json"})
    assert answer.status_code == 400, answer.text
    assert "Stripe-Signature" in answer.json()["detail"]
    assert events_stored(client) == 0
