"""People and groups: users (hub identities), organizations, classrooms."""

from __future__ import annotations

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, CreatedAt

__all__ = ["User", "Organization", "Classroom"]


class User(CreatedAt, Base):
    """A JupyterHub user, created on first contact with the service."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    plan: Mapped[str] = mapped_column(String(32), ForeignKey("plans.name"), default="free")


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
