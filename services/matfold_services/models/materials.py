"""Materials, model versions, predictions, experimental results, batch jobs."""

from __future__ import annotations

from sqlalchemy import JSON, Float, ForeignKey, Integer, String
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from pgvector.sqlalchemy import Vector

from .base import Base, CreatedAt, hnsw_cosine_index

__all__ = ["Material", "ModelVersion", "Prediction", "ExperimentalResult", "BatchJob",
           "MATERIAL_EMBEDDING_DIM"]

#: Length of material embeddings (model latent vectors, padded or projected).
MATERIAL_EMBEDDING_DIM = 128


class Material(CreatedAt, Base):
    __tablename__ = "materials"
    __table_args__ = (hnsw_cosine_index("materials"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    formula: Mapped[str] = mapped_column(String(200))
    reduced_formula: Mapped[str] = mapped_column(String(200), index=True)
    elements: Mapped[list[str]] = mapped_column(ARRAY(String(3)))
    spacegroup_number: Mapped[int | None] = mapped_column(Integer)
    spacegroup_symbol: Mapped[str | None] = mapped_column(String(32))
    structure: Mapped[dict | None] = mapped_column(JSON)
    source_database: Mapped[str | None] = mapped_column(String(64))
    source_id: Mapped[str | None] = mapped_column(String(128))
    embedding = mapped_column(Vector(MATERIAL_EMBEDDING_DIM), nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class ModelVersion(CreatedAt, Base):
    __tablename__ = "model_versions"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    version: Mapped[str] = mapped_column(String(64))
    property: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(32))
    card: Mapped[dict] = mapped_column(JSON, default=dict)


class Prediction(CreatedAt, Base):
    __tablename__ = "predictions"
    id: Mapped[int] = mapped_column(primary_key=True)
    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id", ondelete="CASCADE"), index=True)
    model_version_id: Mapped[int | None] = mapped_column(ForeignKey("model_versions.id", ondelete="SET NULL"))
    property: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(32))
    uncertainty: Mapped[float | None] = mapped_column(Float)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class ExperimentalResult(CreatedAt, Base):
    __tablename__ = "experimental_results"
    id: Mapped[int] = mapped_column(primary_key=True)
    material_id: Mapped[int] = mapped_column(ForeignKey("materials.id", ondelete="CASCADE"), index=True)
    property: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(32))
    uncertainty: Mapped[float | None] = mapped_column(Float)
    reference: Mapped[str | None] = mapped_column(String(500))
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class BatchJob(CreatedAt, Base):
    __tablename__ = "batch_jobs"
    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(32), default="queued")
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    parameters: Mapped[dict] = mapped_column(JSON, default=dict)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
