"""Stripe subscription event sequences delivered in every order (Stripe does not order them).

Shared by ``tests/test_billing.py`` and ``benchmarks/security_service.py``. Each sequence
is what Stripe emits for one subscription, oldest first, with each event's ``created``
offset in seconds (equal offsets: the same second, as checkout's ``created(incomplete)``
and ``updated(active)`` often are). Whatever the order of delivery, the user must end on
the state of the newest event.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections.abc import Callable

__all__ = ["SEQUENCES", "ENTITLED", "expected", "events_for", "check_all_orders"]

ENTITLED = ("active", "trialing", "past_due")
#: name -> [(type suffix, status, plan, created offset s)], oldest first
SEQUENCES = {
    "checkout, dunning, cancel": [("created", "incomplete", "researcher", 0), ("updated", "active", "researcher", 1),
                                  ("updated", "past_due", "researcher", 2), ("deleted", "canceled", "researcher", 3)],
    "upgrade, then lapse": [("created", "active", "researcher", 0), ("updated", "active", "lab", 1),
                            ("updated", "past_due", "lab", 2), ("updated", "unpaid", "lab", 3)],
    "payment recovered": [("created", "active", "researcher", 0), ("updated", "past_due", "researcher", 1),
                          ("updated", "active", "researcher", 2)],
    "trial, then cancel": [("created", "trialing", "lab", 0), ("updated", "active", "lab", 1),
                           ("deleted", "canceled", "lab", 2)],
    "checkout in one second": [("created", "incomplete", "lab", 0), ("updated", "active", "lab", 0)],
    "upgrade in one second": [("created", "active", "researcher", 0), ("updated", "active", "lab", 0)],
    "cancel in one second": [("created", "active", "lab", 0), ("updated", "past_due", "lab", 0),
                             ("deleted", "canceled", "lab", 0)],
    # full ties (same second, status and type): only re-reading the subscription settles them
    "two plan changes in one second": [("created", "active", "researcher", 0), ("updated", "active", "lab", 1),
                                       ("updated", "active", "researcher", 1)],
    "dunning plan change in one second": [("updated", "past_due", "lab", 0), ("updated", "past_due", "researcher", 0)],
}


def expected(sequence) -> tuple[str, str]:
    """(plan, subscription status) the newest event implies."""
    _, status, plan, _ = sequence[-1]
    return (plan if status in ENTITLED else "free"), status


def events_for(sequence, user: str, prices: dict, base: int | None = None) -> tuple[list[str], dict]:
    """The JSON bodies of `sequence` for a fresh subscription of `user` (oldest first), and
    the subscription object as Stripe holds it at the end (the newest event's)."""
    base = int(time.time()) - 60 if base is None else base
    sub_id, customer = "sub_" + secrets.token_hex(8), "cus_" + secrets.token_hex(8)
    bodies = []
    for kind, status, plan, offset in sequence:
        item = {"id": "si_" + secrets.token_hex(6), "object": "subscription_item", "quantity": 1,
                "current_period_end": base + 30 * 86400, "price": {"id": prices[plan], "object": "price"}}
        sub = {"id": sub_id, "object": "subscription", "customer": customer, "status": status,
               "metadata": {"matfold_user": user, "plan": plan},
               "items": {"object": "list", "data": [item], "has_more": False}}
        bodies.append(json.dumps({"id": "evt_" + secrets.token_hex(12), "object": "event",
                                  "type": f"customer.subscription.{kind}", "created": base + offset,
                                  "livemode": False, "data": {"object": sub}}))
    return bodies, sub


def check_all_orders(deliver: Callable[[str], int], state_of: Callable[[str], tuple[str, str]],
                     prices: dict, sequences: dict = SEQUENCES, publish: Callable[[dict], object] | None = None) -> dict:
    """Deliver every permutation of every sequence (a fresh user each); count wrong endings.

    Parameters
    ----------
    deliver : callable
        Sends one event body (signed) to the webhook; returns the HTTP status.
    state_of : callable
        ``user -> (plan, subscription status)`` as the service stored it.
    publish : callable, optional
        Gives the local Stripe stand-in each subscription's final state, for re-reads.

    Returns
    -------
    dict
        ``{"sequences": n, "orders": n, "events": n, "wrong": [(sequence, order, got, want)]}``.
    """
    orders = events = 0
    wrong = []
    for number, (name, sequence) in enumerate(sequences.items()):
        want = expected(sequence)
        for order in itertools.permutations(range(len(sequence))):
            user = f"payer{number}x{''.join(map(str, order))}"
            bodies, final = events_for(sequence, user, prices)
            if publish is not None:
                publish(final)
            for index in order:
                status = deliver(bodies[index])
                events += 1
                if status != 200:
                    wrong.append((name, order, f"HTTP {status}", want))
            got = state_of(user)
            orders += 1
            if got != want:
                wrong.append((name, order, got, want))
    return {"sequences": len(sequences), "orders": orders, "events": events, "wrong": wrong}
