"""Billing: upgrade through Stripe Checkout, manage in the portal, Stripe's webhook.

The webhook is called by Stripe, not by hub users: it is authenticated by the
``Stripe-Signature`` header instead of a hub token. A replayed event (an id already
processed) answers 200 ``{"status": "duplicate"}`` and changes nothing: Stripe resends
every event that does not get a 2xx for days, so refusing with 409 would turn a lost
acknowledgement into days of retries and a failing endpoint on Stripe's dashboard.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Header, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from .. import billing
from ..models import Plan, Subscription, User
from .deps import caller, db_session

__all__ = ["router"]

router = APIRouter(tags=["billing"])


class CheckoutIn(BaseModel):
    plan: str = Field(min_length=1, max_length=32, description="researcher or lab")


@router.post("/billing/checkout", summary="A Stripe Checkout link to upgrade to a paid plan")
def checkout(body: CheckoutIn, user: User = Depends(caller), session: Session = Depends(db_session)):
    link = billing.create_checkout(session, user, body.plan)  # a BillingError leaves nothing: the session rolls back
    session.commit()
    return {"plan": body.plan, **link}


@router.post("/billing/portal", summary="A Stripe Customer Portal link to change or cancel")
def portal(user: User = Depends(caller), session: Session = Depends(db_session)):
    return billing.create_portal(session, user)


@router.get("/billing/plan", summary="The caller's plan, subscription status and limits")
def get_plan(user: User = Depends(caller), session: Session = Depends(db_session)):
    plan = session.get(Plan, user.plan)
    row = session.scalars(select(Subscription).where(Subscription.user_id == user.id)).first()
    end = row.current_period_end if row else None
    return {
        "plan": user.plan,
        "status": row.status if row and row.stripe_subscription_id else "none",
        "current_period_end": end.isoformat() if end else None,
        "limits": {"monthly_folds": plan.monthly_folds, "monthly_predictions": plan.monthly_predictions},
    }


@router.post("/billing/webhook", summary="Stripe's subscription events (Stripe-Signature, no hub token)")
async def webhook(request: Request, stripe_signature: str | None = Header(default=None)):
    payload = await request.body()  # the raw bytes: the signature covers them exactly
    maker = request.app.state.sessionmaker

    def apply() -> dict:
        event = billing.verify_event(payload, stripe_signature)
        if maker is None:
            raise billing.BillingError(503, "the service has no database (DATABASE_URL is not set)")
        with maker() as session:
            result = billing.handle_event(session, event)
            session.commit()
        return result

    return await run_in_threadpool(apply)
