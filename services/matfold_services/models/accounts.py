"""People and groups: users (hub identities), organizations, classrooms."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, CreatedAt

__all__ = ["User", "Organization", "Classroom"]


class User(CreatedAt, Base):
    """A JupyterHub user, created on first contact with the service.

    A hub name can be reused by a new account after the old one is deleted, so a row
    is one *account*: the name plus the hub's creation time of that account
    (``hub_created``). When the hub's account under a name is newer than the row's, the
    row is detached (``detached_at`` set, memberships removed) and a fresh row made; only
    live rows (``detached_at IS NULL``) hold a name uniquely.
    """

    __tablename__ = "users"
    __table_args__ = (Index("uq_users_live_name", "name", unique=True, postgresql_where=text("detached_at IS NULL")),)
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255))
    plan: Mapped[str] = mapped_column(String(32), ForeignKey("plans.name"), default="free")
    #: The hub's ``created`` time of the account (UTC); None until the hub is asked.
    hub_created: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: When the hub account was found deleted or replaced (UTC); None for a live account.
    detached_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Organization(CreatedAt, Base):
    __tablename__ = "organizations"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)


class Classroom(CreatedAt, Base):
    """A class; its members are the JupyterHub group of the same name."""

    __tablename__ = "classrooms"
    id: Mapped[int] = mapped_column(primary_key=True)
    hub_group: Mapped[str] = mapped_column(String(255), unique=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id", ondelete="SET NULL"))
    monthly_predictions: Mapped[int] = mapped_column(Integer, default=1000)
    monthly_folds: Mapped[int] = mapped_column(Integer, default=100)
