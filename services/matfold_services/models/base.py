"""Declarative base and column helpers shared by every table."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import DateTime, Index, MetaData, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = ["Base", "CreatedAt", "utcnow", "hnsw_cosine_index"]

# Stable constraint names, so Alembic migrations can drop what they create.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class CreatedAt:
    """Mixin: ``created_at`` set by the database (UTC)."""

    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def hnsw_cosine_index(table: str, column: str = "embedding") -> Index:
    """An HNSW index for cosine distance on a pgvector column (m 16, ef_construction 64)."""
    return Index(f"ix_{table}_{column}_hnsw", column, postgresql_using="hnsw",
                 postgresql_with={"m": 16, "ef_construction": 64},
                 postgresql_ops={column: "vector_cosine_ops"})
