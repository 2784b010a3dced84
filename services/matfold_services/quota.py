"""Monthly quotas, counted atomically in Postgres.

Two kinds of counter, one row per (owner, month, kind): ``usage_counters`` (owner: a
user, limit: their plan) and ``classroom_usage_counters`` (owner: a classroom, limit:
its shared pool). Both are consumed by one function, :func:`take`, with a single
``UPDATE ... SET used = used + n WHERE ... AND used + n <= limit RETURNING used``, so
concurrent requests at the limit can never overspend: Postgres serialises the updates
of one row.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from .models import Classroom, ClassroomUsageCounter, Plan, UsageCounter, UsageRecord, User
from .problems import ServiceError

__all__ = ["KINDS", "COUNTERS", "QuotaExceeded", "consume", "take", "used", "quota_status", "current_period"]

#: Metered kinds and the plan column holding their monthly limit.
KINDS = {"fold": "monthly_folds", "prediction": "monthly_predictions"}
#: The counters :func:`take` consumes: name -> (table, its owner column).
COUNTERS = {"user": (UsageCounter.__table__, "user_id"),
            "classroom": (ClassroomUsageCounter.__table__, "classroom_id")}


class QuotaExceeded(ServiceError):
    """A monthly quota would be passed (429); nothing was counted."""

    def __init__(self, kind: str, limit: int, used: int, plan: str, classroom: str | None = None):
        self.kind, self.limit, self.used, self.plan, self.classroom = kind, limit, used, plan, classroom
        if classroom:
            message = (f"monthly {kind} quota of classroom {classroom} is used up ({used} of {limit}); "
                       "ask your instructor, or wait for next month")
        else:
            message = (f"monthly {kind} quota of the {plan} plan is used up ({used} of {limit}); "
                       "upgrade the plan or wait for next month")
        super().__init__(429, message)


def take(session: Session, counter: str, owner_id: int, kind: str, quantity: int, limit: int,
         period: str | None = None) -> int | None:
    """Add `quantity` to one counter if the total stays within `limit`; the new total, or None.

    Parameters
    ----------
    counter : {"user", "classroom"}
        Which counter (:data:`COUNTERS`); `owner_id` is the user's or the classroom's id.
    quantity, limit : int
        Units to count, and the most the month may hold (units of `kind`: folds, predictions).
    period : str, optional
        ``YYYY-MM`` (default: :func:`current_period`).

    Returns
    -------
    int or None
        The month's total after counting, or None when it would pass `limit` (then nothing
        is counted; the caller decides what to answer).

    Notes
    -----
    Guarantee: however many transactions call this at once for one counter, the counted
    total never passes `limit`. The row is first made to exist (``INSERT ... ON CONFLICT DO
    NOTHING``), then changed by one conditional ``UPDATE ... RETURNING``: Postgres locks
    the row for the update, and a second transaction updating it waits until the first
    ends, then re-checks ``used + n <= limit`` on the row as committed (Postgres' READ
    COMMITTED re-evaluation; the service runs at that default level), so of two requests
    for the last unit exactly one gets it. Under REPEATABLE READ or SERIALIZABLE the second
    would fail with a serialization error instead (a 503 "retry"): never an overspend.
    The caller's transaction holds the row lock until it commits or rolls back.
    """
    table, owner = COUNTERS[counter]
    period = period or current_period()
    session.execute(insert(table).values({owner: owner_id, "period": period, "kind": kind, "used": 0})
                    .on_conflict_do_nothing(index_elements=[owner, "period", "kind"]))
    c = table.c
    return session.execute(
        update(table).where(c[owner] == owner_id, c.period == period, c.kind == kind, c.used + quantity <= limit)
        .values(used=c.used + quantity).returning(c.used)).scalar()


def used(session: Session, counter: str, owner_id: int, kind: str, period: str | None = None) -> int:
    """The month's total of one counter (0 when nothing was counted yet)."""
    table, owner = COUNTERS[counter]
    c = table.c
    return int(session.scalar(select(func.coalesce(func.max(c.used), 0)).where(
        c[owner] == owner_id, c.period == (period or current_period()), c.kind == kind)))


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
    limit for `kind`; everyone else's by their plan. Either way :func:`take` counts it.

    Raises
    ------
    QuotaExceeded
        When the monthly limit would be passed (nothing is counted then; the session is
        rolled back).
    """
    period = current_period()
    pool = classroom_pool(session, classrooms or {}, kind)
    if pool is not None:
        owner_id, group = pool[0], pool[1]
        counter, limit = "classroom", pool[2]
    else:
        counter, owner_id, group, limit = "user", user.id, None, _limit(session, user, kind)
    total = take(session, counter, owner_id, kind, quantity, limit, period)
    if total is None:
        current = used(session, counter, owner_id, kind, period)
        session.rollback()
        raise QuotaExceeded(kind, limit, current, user.plan, classroom=group)
    session.add(UsageRecord(user_id=user.id, project_id=project_id, kind=kind, quantity=quantity))
    return int(total)


def quota_status(session: Session, user: User, classrooms: dict | None = None) -> dict:
    """``{kind: {"used", "limit", "remaining"}}`` for this month (plus ``"classroom"``
    where a class pool pays for that kind)."""
    period = current_period()
    result = {}
    for kind in KINDS:
        pool = classroom_pool(session, classrooms or {}, kind)
        if pool is not None:
            classroom_id, group, limit = pool
            count = used(session, "classroom", classroom_id, kind, period)
            result[kind] = {"used": count, "limit": limit, "remaining": max(0, limit - count), "classroom": group}
            continue
        limit = _limit(session, user, kind)
        count = used(session, "user", user.id, kind, period)
        result[kind] = {"used": count, "limit": limit, "remaining": max(0, limit - count)}
    return result
