"""Monthly quotas, counted atomically in Postgres.

One ``usage_counters`` row per (user, month, kind); a request consumes with a single
``UPDATE ... WHERE used + n <= limit RETURNING used``, so concurrent requests at the
limit can never overspend: Postgres serialises the updates of one row.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import text
from sqlalchemy.orm import Session

from .models import Plan, UsageRecord, User

__all__ = ["KINDS", "QuotaExceeded", "consume", "quota_status", "current_period"]

#: Metered kinds and the plan column holding their monthly limit.
KINDS = {"fold": "monthly_folds", "prediction": "monthly_predictions"}


class QuotaExceeded(Exception):
    def __init__(self, kind: str, limit: int, used: int, plan: str):
        self.kind, self.limit, self.used, self.plan = kind, limit, used, plan
        super().__init__(
            f"monthly {kind} quota of the {plan} plan is used up ({used} of {limit}); "
            "upgrade the plan or wait for next month"
        )


def current_period() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m")


def _limit(session: Session, user: User, kind: str) -> int:
    plan = session.get(Plan, user.plan)
    return int(getattr(plan, KINDS[kind]))


def consume(session: Session, user: User, kind: str, quantity: int = 1, project_id: int | None = None) -> int:
    """Count `quantity` units of `kind` for `user` this month; returns the new total.

    Raises
    ------
    QuotaExceeded
        When the plan's monthly limit would be passed (nothing is counted then).
    """
    period, limit = current_period(), _limit(session, user, kind)
    session.execute(text(
        "INSERT INTO usage_counters (user_id, period, kind, used) VALUES (:u, :p, :k, 0) "
        "ON CONFLICT (user_id, period, kind) DO NOTHING"), {"u": user.id, "p": period, "k": kind})
    used = session.execute(text(
        "UPDATE usage_counters SET used = used + :n WHERE user_id = :u AND period = :p AND kind = :k "
        "AND used + :n <= :limit RETURNING used"),
        {"n": quantity, "u": user.id, "p": period, "k": kind, "limit": limit}).scalar()
    if used is None:
        session.rollback()
        raise QuotaExceeded(kind, limit, quota_status(session, user)[kind]["used"], user.plan)
    session.add(UsageRecord(user_id=user.id, project_id=project_id, kind=kind, quantity=quantity))
    return int(used)


def quota_status(session: Session, user: User) -> dict:
    """``{kind: {"used", "limit", "remaining"}}`` for this month."""
    period = current_period()
    rows = dict(session.execute(text(
        "SELECT kind, used FROM usage_counters WHERE user_id = :u AND period = :p"),
        {"u": user.id, "p": period}).all())
    result = {}
    for kind in KINDS:
        limit = _limit(session, user, kind)
        used = int(rows.get(kind, 0))
        result[kind] = {"used": used, "limit": limit, "remaining": max(0, limit - used)}
    return result
