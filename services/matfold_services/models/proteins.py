"""Protein structures, residue annotations and threaded comments."""

from __future__ import annotations

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from pgvector.sqlalchemy import Vector

from .base import Base, CreatedAt, hnsw_cosine_index

__all__ = ["ProteinStructure", "Annotation", "Comment", "PROTEIN_EMBEDDING_DIM"]

#: Mean-pooled ESM-2 embedding length (esm2_t33_650M).
PROTEIN_EMBEDDING_DIM = 1280


class ProteinStructure(CreatedAt, Base):
    __tablename__ = "protein_structures"
    __table_args__ = (hnsw_cosine_index("protein_structures"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    sequence: Mapped[str] = mapped_column(Text)
    sequence_hash: Mapped[str] = mapped_column(String(64), index=True)
    mean_plddt: Mapped[float | None] = mapped_column(Float)
    files: Mapped[dict] = mapped_column(JSON, default=dict)
    embedding = mapped_column(Vector(PROTEIN_EMBEDDING_DIM), nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Annotation(CreatedAt, Base):
    __tablename__ = "annotations"
    id: Mapped[int] = mapped_column(primary_key=True)
    structure_id: Mapped[int] = mapped_column(ForeignKey("protein_structures.id", ondelete="CASCADE"), index=True)
    chain: Mapped[str] = mapped_column(String(8))
    residue: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(200))
    color: Mapped[str | None] = mapped_column(String(16))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class Comment(CreatedAt, Base):
    __tablename__ = "comments"
    id: Mapped[int] = mapped_column(primary_key=True)
    annotation_id: Mapped[int] = mapped_column(ForeignKey("annotations.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
