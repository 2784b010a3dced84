"""Metered usage and quota status."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from ..access import require_role
from ..hubgroups import classroom_limits
from ..idempotency import Idempotency, idempotency
from ..models import Role, User
from ..problems import NotFound
from ..quota import KINDS, consume, quota_status
from .deps import MAX_ID, caller, db_session, hub_user

__all__ = ["router"]

router = APIRouter(tags=["usage"])


class UsageIn(BaseModel):
    quantity: int = Field(default=1, ge=1, le=100_000)
    project_id: int | None = Field(default=None, ge=1, le=MAX_ID)


@router.get("/usage", summary="This month's usage and limits")
def get_usage(user: User = Depends(caller), model: dict = Depends(hub_user),
              session: Session = Depends(db_session)):
    status = quota_status(session, user, classroom_limits(model.get("groups")))
    session.commit()
    return {"plan": user.plan, **status}


@router.post("/usage/{kind}", summary="Count metered work against the monthly quota")
def post_usage(kind: str, body: UsageIn, user: User = Depends(caller), model: dict = Depends(hub_user),
               session: Session = Depends(db_session), idem: Idempotency = Depends(idempotency)):
    if kind not in KINDS:
        raise NotFound(f"unknown usage kind {kind!r}; use {', '.join(KINDS)}")
    if body.project_id is not None:
        require_role(session, user, body.project_id, Role.editor)
    used = consume(session, user, kind, body.quantity, body.project_id, classroom_limits(model.get("groups")))
    return idem.commit(200, lambda: {"kind": kind, "used": used})
