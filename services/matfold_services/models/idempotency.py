"""Responses kept for ``Idempotency-Key`` retries of creating requests."""

from __future__ import annotations

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, CreatedAt

__all__ = ["IdempotentRequest"]


class IdempotentRequest(CreatedAt, Base):
    """One creating request per (user, key): what it asked (a hash) and what it answered.

    The row is inserted in the transaction that creates the rows and holds the response,
    so a retry either finds the committed answer or (after a rollback) does the work anew.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("user_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(200))
    #: SHA-256 of method, path and canonical JSON body: the same key for another request is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    #: Method and path, to name the first request in the refusal of another one.
    request: Mapped[str] = mapped_column(String(300))
    status: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[dict | list | None] = mapped_column(JSON)
