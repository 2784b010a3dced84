"""Stripe billing: checkout for an upgrade, the customer portal, and subscription webhooks.

Settings come from the environment, read on every call (so a restart is not needed to
fix one):

``STRIPE_SECRET_KEY``
    API key for checkout and portal sessions.
``STRIPE_WEBHOOK_SECRET``
    Signing secret (``whsec_...``) of the webhook endpoint.
``STRIPE_API_BASE``
    Optional: another Stripe API address (a local stand-in, a proxy).
``MATFOLD_BILLING_PRICE_RESEARCHER``, ``MATFOLD_BILLING_PRICE_LAB``
    Stripe price ids of the paid plans (else ``plans.stripe_price_id``).
``MATFOLD_BILLING_RETURN_URL``
    Where Stripe sends the user back (default ``http://127.0.0.1:8000/hub/home``);
    ``MATFOLD_BILLING_SUCCESS_URL`` overrides it after a completed checkout.

The webhook is the only thing that changes a user's plan: a subscription's price names
the plan, and a user keeps it while the subscription is active, trialing or past due.

Stripe does not deliver events in order (and redelivers failed ones for days), so an
event is applied only when it is newer than the last one applied to its subscription:
by the event's ``created`` (Unix seconds), and within one second by :func:`event_order`'s
rank (Stripe often emits ``created(incomplete)`` and ``updated(active)`` in the same
second): later lifecycle states win (incomplete < incomplete_expired < trialing < active
< past_due < unpaid/paused < canceled), then the event type (created < updated < deleted).
A full tie (two same-status updates in one second) is settled by re-reading the
subscription from Stripe (kept as applied when no API key is configured). So every
order of delivery ends on the state of the newest event, whatever arrives last.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any

import stripe
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from .access import user_for
from .models import Plan, StripeEvent, Subscription, User
from .problems import ServiceError

__all__ = ["BillingError", "BillingConfig", "PAID_PLANS", "SUBSCRIPTION_EVENTS", "config",
           "stripe_client", "price_for", "plan_for_price", "create_checkout", "create_portal",
           "verify_event", "handle_event", "event_order", "MAX_SIGNATURE"]

#: Plans bought through Stripe, and the variable holding each one's price id.
PAID_PLANS = {"researcher": "MATFOLD_BILLING_PRICE_RESEARCHER", "lab": "MATFOLD_BILLING_PRICE_LAB"}
#: Webhook event types that change plans; others are acknowledged and ignored.
SUBSCRIPTION_EVENTS = ("customer.subscription.created", "customer.subscription.updated",
                       "customer.subscription.deleted")
#: Subscription statuses that grant the subscribed plan (past_due: Stripe is still retrying).
ENTITLED = ("active", "trialing", "past_due")
#: Tie rank of a subscription status within one second: later in Stripe's lifecycle is larger.
STATUS_RANK = {"incomplete": 0, "incomplete_expired": 1, "trialing": 2, "active": 3, "past_due": 4,
               "unpaid": 5, "paused": 5, "canceled": 9}
#: Tie rank of an event type when the status ranks are equal.
TYPE_RANK = {"customer.subscription.created": 0, "customer.subscription.updated": 1,
             "customer.subscription.deleted": 2}
#: Longest Stripe-Signature header read (characters; Stripe's are about 150).
MAX_SIGNATURE = 2048
DEFAULT_RETURN_URL = "http://127.0.0.1:8000/hub/home"


class BillingError(ServiceError):
    """A billing request that cannot be served: ``BillingError(status, message)``, the status
    depending on the case (400 a webhook that is not Stripe's, 409 a state that forbids it,
    422 an unknown plan, 502 Stripe failed, 503 billing is not configured)."""


@dataclass(frozen=True)
class BillingConfig:
    secret_key: str
    webhook_secret: str
    api_base: str
    prices: dict[str, str]
    return_url: str
    success_url: str


def config() -> BillingConfig:
    """The billing settings in the environment now."""
    env = os.environ.get
    return_url = env("MATFOLD_BILLING_RETURN_URL") or DEFAULT_RETURN_URL
    return BillingConfig(
        secret_key=env("STRIPE_SECRET_KEY", "").strip(),
        webhook_secret=env("STRIPE_WEBHOOK_SECRET", "").strip(),
        api_base=env("STRIPE_API_BASE", "").strip().rstrip("/"),
        prices={plan: env(var, "").strip() for plan, var in PAID_PLANS.items()},
        return_url=return_url,
        success_url=env("MATFOLD_BILLING_SUCCESS_URL") or return_url,
    )


def stripe_client(cfg: BillingConfig) -> stripe.StripeClient:
    """A client with the configured key, at ``STRIPE_API_BASE`` when that is set.

    Raises
    ------
    BillingError
        503 when ``STRIPE_SECRET_KEY`` is not set.
    """
    if not cfg.secret_key:
        raise BillingError(503, "billing is not configured: set STRIPE_SECRET_KEY "
                                "(a Stripe secret key, sk_...) in the service's environment")
    return _client(cfg.secret_key, cfg.api_base)


@lru_cache(maxsize=4)
def _client(key: str, base: str) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": base} if base else None)


def price_for(session: Session, cfg: BillingConfig, plan: str) -> str:
    """The Stripe price id of paid `plan` (environment first, then the plans table)."""
    price = cfg.prices.get(plan) or session.scalar(select(Plan.stripe_price_id).where(Plan.name == plan))
    if not price:
        raise BillingError(503, f"the {plan} plan has no Stripe price: set {PAID_PLANS[plan]} "
                                "(a price id, price_...) in the service's environment")
    return price


def plan_for_price(session: Session, cfg: BillingConfig, price: str) -> str | None:
    """The plan sold at Stripe price `price`, or None if it is not one of ours."""
    for plan, configured in cfg.prices.items():
        if configured and configured == price:
            return plan
    return session.scalar(select(Plan.name).where(Plan.stripe_price_id == price))


def _subscription_row(session: Session, user: User, *, lock: bool = False) -> Subscription | None:
    query = select(Subscription).where(Subscription.user_id == user.id)
    return session.scalars(query.with_for_update() if lock else query).first()


def _stripe_call(what: str, call):
    try:
        return call()
    except stripe.AuthenticationError:
        raise BillingError(503, f"Stripe refused the API key while {what}: check STRIPE_SECRET_KEY") from None
    except stripe.StripeError as exc:
        message = getattr(exc, "user_message", None) or str(exc) or type(exc).__name__
        raise BillingError(502, f"Stripe failed while {what}: {message}; try again later") from None


def _customer_for(session: Session, client: stripe.StripeClient, user: User) -> Subscription:
    """The user's subscription row, holding a Stripe customer (created once, row locked)."""
    row = _subscription_row(session, user, lock=True)
    if row is None:
        # serialise first checkouts of one user on the user row, so one customer is made
        session.scalars(select(User).where(User.id == user.id).with_for_update()).one()
        row = _subscription_row(session, user, lock=True)
    if row is not None and row.stripe_customer_id:
        return row
    customer = _stripe_call("creating a customer", lambda: client.v1.customers.create(
        params={"name": user.name, "metadata": {"matfold_user": user.name}}))
    if row is None:
        # no subscription yet: the row only remembers the customer until a webhook arrives
        row = Subscription(user_id=user.id, plan=user.plan, status="incomplete")
        session.add(row)
    row.stripe_customer_id = customer.id
    session.flush()
    return row


def create_checkout(session: Session, user: User, plan: str) -> dict:
    """A Stripe Checkout Session (subscription mode) upgrading `user` to paid `plan`.

    The caller commits `session` (it remembers the user's Stripe customer).

    Returns
    -------
    dict
        ``{"id": "cs_...", "url": "https://checkout.stripe.com/..."}``.

    Raises
    ------
    BillingError
        422 for a plan that is not sold, 409 when a subscription is already running
        (change it in the portal), 503 for missing settings, 502 when Stripe fails.
    """
    if plan not in PAID_PLANS:
        raise BillingError(422, f"cannot buy plan {plan!r}: choose one of {', '.join(PAID_PLANS)}"
                                + ("; to go back to free, cancel in the billing portal" if plan == "free" else ""))
    cfg = config()
    client = stripe_client(cfg)
    price = price_for(session, cfg, plan)
    row = _customer_for(session, client, user)
    if row.stripe_subscription_id and row.status in ENTITLED:
        raise BillingError(409, f"you already subscribe to the {row.plan} plan: change or cancel it "
                                "in the billing portal (POST /billing/portal)")
    metadata = {"matfold_user": user.name, "plan": plan}
    checkout = _stripe_call("creating a checkout session", lambda: client.v1.checkout.sessions.create(params={
        "mode": "subscription",
        "customer": row.stripe_customer_id,
        "client_reference_id": user.name,
        "line_items": [{"price": price, "quantity": 1}],
        "success_url": cfg.success_url,
        "cancel_url": cfg.return_url,
        "metadata": metadata,
        "subscription_data": {"metadata": metadata},
    }))
    return {"id": checkout.id, "url": checkout.url}


def create_portal(session: Session, user: User) -> dict:
    """A Customer Portal session where `user` changes or cancels the subscription.

    Returns
    -------
    dict
        ``{"id": "bps_...", "url": "https://billing.stripe.com/..."}``.

    Raises
    ------
    BillingError
        409 when the user never went through checkout, 503/502 as for checkout.
    """
    client = stripe_client(cfg := config())
    row = _subscription_row(session, user)
    if row is None or not row.stripe_customer_id:
        raise BillingError(409, "you have no billing account yet: subscribe first with "
                                "POST /billing/checkout {\"plan\": \"researcher\"}")
    portal = _stripe_call("creating a portal session", lambda: client.v1.billing_portal.sessions.create(
        params={"customer": row.stripe_customer_id, "return_url": cfg.return_url}))
    return {"id": portal.id, "url": portal.url}


def verify_event(payload: bytes, signature: str | None) -> stripe.Event:
    """The event in a webhook body, after checking its ``Stripe-Signature``.

    Raises
    ------
    BillingError
        503 without ``STRIPE_WEBHOOK_SECRET``; 400 for a missing, forged or
        too old signature (Stripe's tolerance: 5 minutes) or a body that is not an event.
    """
    secret = config().webhook_secret
    if not secret:
        raise BillingError(503, "webhooks are not configured: set STRIPE_WEBHOOK_SECRET "
                                "(the endpoint's signing secret, whsec_...) in the service's environment")
    if not signature:
        raise BillingError(400, "missing Stripe-Signature header: only Stripe may call this webhook")
    if len(signature) > MAX_SIGNATURE or not (signature.isascii() and signature.isprintable()):
        raise BillingError(400, f"Stripe-Signature must be printable ASCII of at most {MAX_SIGNATURE} characters "
                                "(t=...,v1=...): only Stripe may call this webhook")
    try:
        return stripe.Webhook.construct_event(payload, signature, secret)
    except stripe.SignatureVerificationError as exc:
        reason = str(exc.user_message or exc)
        if "tolerance" in reason:
            raise BillingError(400, f"Stripe-Signature is older than {stripe.Webhook.DEFAULT_TOLERANCE} s "
                                    "(a replay, or this server's clock is wrong): refused") from None
        raise BillingError(400, f"Stripe-Signature does not verify ({reason}); check that "
                                "STRIPE_WEBHOOK_SECRET is this endpoint's signing secret") from None
    except ValueError as exc:
        raise BillingError(400, f"the webhook body is not a Stripe event: {str(exc)[:200]}") from None
    except Exception as exc:  # anything else the Stripe library trips on is still the sender's input
        raise BillingError(400, f"Stripe-Signature or body cannot be checked ({type(exc).__name__}); "
                                "only Stripe may call this webhook") from None


def event_order(event: Mapping, status: str) -> tuple[int, int]:
    """``(created, rank)`` of a subscription event: larger is newer (see the module's description).

    ``rank`` is ``10 * STATUS_RANK[status] + TYPE_RANK[type]`` (unknown statuses rank lowest).
    """
    try:
        created = int(event.get("created") or 0)
    except (TypeError, ValueError):
        created = 0
    return created, 10 * STATUS_RANK.get(status, 0) + TYPE_RANK.get(event.get("type", ""), 0)


def _as_dict(obj: Any) -> dict:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def _period_end(sub: Mapping, item: Mapping) -> datetime | None:
    # API versions since 2025-03-31 keep the period on the items, older ones on the subscription
    stamp = item.get("current_period_end") or sub.get("current_period_end")
    return datetime.fromtimestamp(int(stamp), tz=timezone.utc) if stamp else None


def _owner(session: Session, sub: Mapping) -> tuple[User | None, Subscription | None]:
    """Whose subscription this is: by Stripe customer, else by the metadata checkout set."""
    row = session.scalars(select(Subscription).where(Subscription.stripe_customer_id == sub.get("customer"))
                          .with_for_update()).first()
    if row is not None:
        return session.get(User, row.user_id), row
    name = (sub.get("metadata") or {}).get("matfold_user")
    if not name:
        return None, None
    user = user_for(session, name)
    return user, _subscription_row(session, user, lock=True)


def _reread(subscription_id: str) -> dict | None:
    """The subscription as Stripe holds it now, or None when no API key is configured.

    Raises
    ------
    BillingError
        502/503 when Stripe fails (the webhook is not acknowledged: Stripe redelivers).
    """
    cfg = config()
    if not cfg.secret_key:
        return None
    client = stripe_client(cfg)
    return _as_dict(_stripe_call("re-reading a subscription",
                                 lambda: client.v1.subscriptions.retrieve(subscription_id)))


def handle_event(session: Session, event: Any) -> dict:
    """Apply a verified webhook event to the user's plan and subscription row, once.

    The event id is stored in ``stripe_events`` in the same transaction, so a replayed
    (or concurrently redelivered) event changes nothing. The caller commits `session`.

    Returns
    -------
    dict
        ``{"status": "applied" | "duplicate" | "ignored", ...}``.

    Raises
    ------
    BillingError
        422 when the subscription's price is none of the configured plans' (nothing is
        stored, so Stripe's retry succeeds once the price variable is fixed).
    """
    event = _as_dict(event)
    kind, event_id = event.get("type", ""), event.get("id", "")
    if kind not in SUBSCRIPTION_EVENTS:
        return {"status": "ignored", "reason": f"event type {kind!r} does not change plans"}
    seen = session.execute(insert(StripeEvent).values(id=event_id, type=kind)
                           .on_conflict_do_nothing(index_elements=["id"]).returning(StripeEvent.id)).scalar()
    if seen is None:
        return {"status": "duplicate", "reason": f"event {event_id} was already processed"}
    sub = (event.get("data") or {}).get("object")
    if not isinstance(sub, Mapping) or not sub.get("id"):
        raise BillingError(400, f"event {event_id} ({kind}) carries no subscription object")
    user, row = _owner(session, sub)
    if user is None:
        return {"status": "ignored", "reason": f"customer {sub.get('customer')} is not a matfold user's"}
    if row is not None and row.stripe_subscription_id not in (None, sub["id"]) and row.status in ENTITLED:
        return {"status": "ignored", "reason": f"{sub['id']} is not the user's current subscription"}
    if row is not None and row.stripe_subscription_id == sub["id"] and row.status == "canceled":
        # canceled is final in Stripe: a late 'updated' must not bring the plan back
        return {"status": "ignored", "reason": f"{sub['id']} was already canceled"}
    status = "canceled" if kind.endswith(".deleted") else str(sub.get("status", ""))
    order = event_order(event, status)
    if row is not None and row.stripe_subscription_id == sub["id"] and row.last_event_created is not None:
        last = (row.last_event_created, row.last_event_rank or 0)
        if order < last:
            return {"status": "ignored", "reason": f"event {event_id} is older than the last one applied to {sub['id']}"}
        if order == last:  # a full tie: only Stripe knows which came last
            sub = _reread(sub["id"])
            if sub is None:
                return {"status": "ignored", "reason": f"event {event_id} ties with the last one applied; "
                                                       "set STRIPE_SECRET_KEY to settle ties by re-reading"}
            status = str(sub.get("status", ""))
    cfg = config()
    items = (sub.get("items") or {}).get("data") or []
    plans = [(plan_for_price(session, cfg, (item.get("price") or {}).get("id", "")), item) for item in items]
    plan, item = next(((p, i) for p, i in plans if p), (None, items[0] if items else {}))
    if plan is None and status != "canceled":
        prices = ", ".join((i.get("price") or {}).get("id", "?") for i in items) or "none"
        raise BillingError(422, f"subscription {sub['id']} has price(s) {prices}, none of which is a "
                                f"matfold plan: set {' / '.join(PAID_PLANS.values())}")
    if row is None:
        row = Subscription(user_id=user.id, plan=plan or "free", status=status)
        session.add(row)
    row.plan = plan or row.plan
    row.status = status
    row.stripe_customer_id = sub.get("customer") or row.stripe_customer_id
    row.stripe_subscription_id = sub["id"]
    row.current_period_end = _period_end(sub, item)
    row.last_event_created, row.last_event_rank = order
    user.plan = plan if status in ENTITLED and plan else "free"
    session.flush()
    return {"status": "applied", "user": user.name, "plan": user.plan, "subscription": status}
