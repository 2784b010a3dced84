"""Similarity search over the materials and proteins the caller may see."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..models import Material, ProjectMember, ProteinStructure, Role, User
from ..problems import Conflict, NotFound
from ..similarity import MAX_K, MaterialEmbedding, similar_materials, similar_proteins
from .deps import MAX_ID, DbId, caller, db_session
from .materials import _material, material_summary

__all__ = ["router"]

router = APIRouter(tags=["search"])


class QueryIn(BaseModel):
    embedding: MaterialEmbedding
    k: int = Field(default=20, ge=1, le=MAX_K)
    project_id: int | None = Field(default=None, ge=1, le=MAX_ID)


def _visible_projects(session: Session, user: User) -> list[int]:
    return list(session.scalars(select(ProjectMember.project_id).where(ProjectMember.user_id == user.id)))


def _materials_out(session: Session, hits) -> list[dict]:
    rows = {m.id: m for m in session.scalars(select(Material).where(Material.id.in_([i for i, _ in hits])))}
    return [material_summary(rows[i]) | {"distance": d} for i, d in hits if i in rows]


@router.get("/materials/{material_id}/similar", summary="Materials with the nearest embeddings (cosine)")
def similar_to_material(material_id: DbId, k: int = Query(default=20, ge=1, le=MAX_K),
                        user: User = Depends(caller), session: Session = Depends(db_session)):
    material = _material(session, user, material_id, Role.viewer)
    if material.embedding is None:
        raise Conflict(f"material {material_id} has no embedding; save it with one to search")
    hits = similar_materials(session, list(material.embedding), k, project_ids=_visible_projects(session, user),
                             exclude_id=material_id)
    return _materials_out(session, hits)


@router.post("/search/materials", summary="Materials nearest to a query embedding (cosine)")
def search_materials(body: QueryIn, user: User = Depends(caller), session: Session = Depends(db_session)):
    projects = _visible_projects(session, user)
    if body.project_id is not None:
        if body.project_id not in projects:
            raise NotFound(f"project {body.project_id} not found (or you are not a member)")
        projects = [body.project_id]
    hits = similar_materials(session, body.embedding, body.k, project_ids=projects)
    return _materials_out(session, hits)


@router.get("/proteins/{protein_id}/similar", summary="Protein structures with the nearest embeddings")
def similar_to_protein(protein_id: DbId, k: int = Query(default=20, ge=1, le=MAX_K),
                       user: User = Depends(caller), session: Session = Depends(db_session)):
    protein = session.get(ProteinStructure, protein_id)
    projects = _visible_projects(session, user)
    if protein is None or protein.project_id not in projects:
        raise NotFound(f"protein structure {protein_id} not found (or you are not a member of its project)")
    if protein.embedding is None:
        raise Conflict(f"protein structure {protein_id} has no embedding; save it with one to search")
    hits = similar_proteins(session, list(protein.embedding), k, project_ids=projects, exclude_id=protein_id)
    rows = {p.id: p for p in session.scalars(select(ProteinStructure).where(
        ProteinStructure.id.in_([i for i, _ in hits])))}
    return [{"id": i, "name": rows[i].name, "project_id": rows[i].project_id, "distance": d}
            for i, d in hits if i in rows]
