"""Monthly quotas, counted atomically in Postgres.

One ``usage_counters`` row per (user, month, kind); a request consumes with a single
``UPDATE ... WHERE used + n <= limit RETURNING used``, so concurrent requests at the
limit can never overspend: Postgres serialises the updates of one row.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from .models import Classroom, Plan, UsageRecord, User

__all__ = ["KINDS", "QuotaExceeded", "consume", "quota_status", "current_period"]

#: Metered kinds and the plan column holding their monthly limit.
KINDS = {"fold": "monthly_folds", "prediction": "monthly_predictions"}


class QuotaExceeded(Exception):
    def __init__(self, kind: str, limit: int, used: int, plan: str, classroom: str | None = None):
        self.kind, self.limit, self.used, self.plan, self.classroom = kind, limit, used, plan, classroom
        if classroom:
            message = (f"monthly {kind} quota of classroom {classroom} is used up ({used} of {limit}); "
                       "ask your instructor, or wait for next month")
        else:
            message = (f"monthly {kind} quota of the {plan} plan is used up ({used} of {limit}); "
                       "upgrade the plan or wait for next month")
        super().__init__(message)


def classroom_pool(session: Session, classrooms: dict, kind: str) -> tuple[int, str, int] | None:
    """The classroom pool that pays for `kind`: (classroom id, group, monthly limit), or None.

    `classrooms` is :func:`matfold_services.hubgroups.classroom_limits` of the caller;
    the first class (by name) with a limit for `kind` pays.
    """
    column = KINDS[kind]
    for group, limits in sorted(classrooms.items()):
        if limits.get(column) is None:
            continue
        values = {"hub_group": group, "monthly_folds": limits.get("monthly_folds") or 0,
                  "monthly_predictions": limits.get("monthly_predictions") or 0}
        classroom_id = session.execute(
            insert(Classroom).values(**values)
            .on_conflict_do_update(index_elements=["hub_group"], set_={k: values[k] for k in values if k != "hub_group"})
            .returning(Classroom.id)).scalar_one()
        return classroom_id, group, int(limits[column])
    return None


def current_period() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m")


def _limit(session: Session, user: User, kind: str) -> int:
    plan = session.get(Plan, user.plan)
    return int(getattr(plan, KINDS[kind]))


def consume(session: Session, user: User, kind: str, quantity: int = 1, project_id: int | None = None,
            classrooms: dict | None = None) -> int:
    """Count `quantity` units of `kind` for `user` this month; returns the new total.

    A student's work is paid by their classroom's shared pool when the class has a
    limit for `kind`; everyone else's by their plan.

    Raises
    ------
    QuotaExceeded
        When the monthly limit would be passed (nothing is counted then).
    """
    period = current_period()
    pool = classroom_pool(session, classrooms or {}, kind)
    if pool is not None:
        classroom_id, group, limit = pool
        session.execute(text(
            "INSERT INTO classroom_usage_counters (classroom_id, period, kind, used) VALUES (:c, :p, :k, 0) "
            "ON CONFLICT (classroom_id, period, kind) DO NOTHING"), {"c": classroom_id, "p": period, "k": kind})
        used = session.execute(text(
            "UPDATE classroom_usage_counters SET used = used + :n WHERE classroom_id = :c AND period = :p "
            "AND kind = :k AND used + :n <= :limit RETURNING used"),
            {"n": quantity, "c": classroom_id, "p": period, "k": kind, "limit": limit}).scalar()
        if used is None:
            current = session.execute(text(
                "SELECT used FROM classroom_usage_counters WHERE classroom_id = :c AND period = :p AND kind = :k"),
                {"c": classroom_id, "p": period, "k": kind}).scalar() or 0
            session.rollback()
            raise QuotaExceeded(kind, limit, int(current), user.plan, classroom=group)
        session.add(UsageRecord(user_id=user.id, project_id=project_id, kind=kind, quantity=quantity))
        return int(used)
    limit = _limit(session, user, kind)
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


def quota_status(session: Session, user: User, classrooms: dict | None = None) -> dict:
    """``{kind: {"used", "limit", "remaining"}}`` for this month (plus ``"classroom"``
    where a class pool pays for that kind)."""
    period = current_period()
    rows = dict(session.execute(text(
        "SELECT kind, used FROM usage_counters WHERE user_id = :u AND period = :p"),
        {"u": user.id, "p": period}).all())
    result = {}
    for kind in KINDS:
        pool = classroom_pool(session, classrooms or {}, kind)
        if pool is not None:
            classroom_id, group, limit = pool
            used = int(session.execute(text(
                "SELECT coalesce(max(used), 0) FROM classroom_usage_counters WHERE classroom_id = :c "
                "AND period = :p AND kind = :k"), {"c": classroom_id, "p": period, "k": kind}).scalar())
            result[kind] = {"used": used, "limit": limit, "remaining": max(0, limit - used), "classroom": group}
            continue
        limit = _limit(session, user, kind)
        used = int(rows.get(kind, 0))
        result[kind] = {"used": used, "limit": limit, "remaining": max(0, limit - used)}
    return result
