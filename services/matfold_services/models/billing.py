"""Plans, subscriptions, metered usage and Stripe events seen."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, ForeignKey, Integer, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, CreatedAt

__all__ = ["Plan", "Subscription", "UsageCounter", "UsageRecord", "StripeEvent", "ClassroomUsageCounter",
           "PLANS"]

#: Seed plans: monthly limits (protein folds, materials predictions).
PLANS = {
    "free": {"monthly_folds": 10, "monthly_predictions": 1000},
    "researcher": {"monthly_folds": 100, "monthly_predictions": 50000},
    "lab": {"monthly_folds": 500, "monthly_predictions": 500000},
}


class Plan(Base):
    __tablename__ = "plans"
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    monthly_folds: Mapped[int] = mapped_column(Integer)
    monthly_predictions: Mapped[int] = mapped_column(Integer)
    stripe_price_id: Mapped[str | None] = mapped_column(String(128))


class Subscription(CreatedAt, Base):
    __tablename__ = "subscriptions"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    plan: Mapped[str] = mapped_column(String(32), ForeignKey("plans.name"))
    status: Mapped[str] = mapped_column(String(32))
    stripe_customer_id: Mapped[str | None] = mapped_column(String(128), index=True)
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    current_period_end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: ``created`` (Unix seconds) of the last Stripe event applied to this subscription, and
    #: that event's tie rank (:func:`matfold_services.billing.event_order`): an event is
    #: applied only when its (created, rank) is larger, so deliveries converge in any order.
    last_event_created: Mapped[int | None] = mapped_column(BigInteger)
    last_event_rank: Mapped[int | None] = mapped_column(SmallInteger)


class UsageCounter(Base):
    """One row per (user, month, kind): incremented atomically against the limit."""

    __tablename__ = "usage_counters"
    __table_args__ = (UniqueConstraint("user_id", "period", "kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    kind: Mapped[str] = mapped_column(String(32))   # "fold" or "prediction"
    used: Mapped[int] = mapped_column(Integer, default=0)


class UsageRecord(CreatedAt, Base):
    """Each metered request, for the usage history."""

    __tablename__ = "usage_records"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[int] = mapped_column(Integer)


class StripeEvent(CreatedAt, Base):
    """Stripe event ids already processed: a replayed webhook is refused."""

    __tablename__ = "stripe_events"
    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    type: Mapped[str] = mapped_column(String(128))


class ClassroomUsageCounter(Base):
    """One row per (classroom, month, kind): the class's shared pool."""

    __tablename__ = "classroom_usage_counters"
    __table_args__ = (UniqueConstraint("classroom_id", "period", "kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    classroom_id: Mapped[int] = mapped_column(ForeignKey("classrooms.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(7))
    kind: Mapped[str] = mapped_column(String(32))
    used: Mapped[int] = mapped_column(Integer, default=0)
