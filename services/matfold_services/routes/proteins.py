"""Protein structures saved in a project."""

from __future__ import annotations

import hashlib
import re

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, field_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..access import require_role
from ..idempotency import Idempotency, idempotency
from ..models import ProteinStructure, Role, User
from ..similarity import ProteinEmbedding
from .deps import DbId, caller, db_session

__all__ = ["router", "MAX_SEQUENCE"]

router = APIRouter(tags=["proteins"])
#: Longest sequence stored (residues).
MAX_SEQUENCE = 10_000
_AMINO = re.compile(r"^[ACDEFGHIKLMNPQRSTVWYX]+$")


class ProteinIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    sequence: str = Field(min_length=1, max_length=MAX_SEQUENCE)
    mean_plddt: float | None = Field(default=None, ge=0, le=100)
    files: dict = Field(default_factory=dict, description="e.g. {'pdb': '...'}")
    embedding: ProteinEmbedding | None = None

    @field_validator("sequence")
    @classmethod
    def _sequence(cls, value: str) -> str:
        value = "".join(value.split()).upper()
        if not _AMINO.match(value):
            bad = sorted(set(value) - set("ACDEFGHIKLMNPQRSTVWYX"))
            raise ValueError(f"sequence has letters outside the 20 amino acids (and X): {''.join(bad)}")
        return value


def _summary(p: ProteinStructure) -> dict:
    return {"id": p.id, "project_id": p.project_id, "name": p.name, "length": len(p.sequence),
            "sequence_hash": p.sequence_hash, "mean_plddt": p.mean_plddt, "files": sorted(p.files or {}),
            "created_at": p.created_at.isoformat()}


@router.post("/projects/{project_id}/proteins", status_code=201, summary="Save a protein structure (editor)")
def save_protein(project_id: DbId, body: ProteinIn, user: User = Depends(caller),
                 session: Session = Depends(db_session), idem: Idempotency = Depends(idempotency)):
    require_role(session, user, project_id, Role.editor)
    protein = ProteinStructure(project_id=project_id, name=body.name, sequence=body.sequence,
                               sequence_hash=hashlib.sha256(body.sequence.encode()).hexdigest(),
                               mean_plddt=body.mean_plddt, files=body.files, embedding=body.embedding,
                               created_by=user.id)
    session.add(protein)
    return idem.commit(201, lambda: _summary(protein))


@router.get("/projects/{project_id}/proteins", summary="List a project's protein structures")
def list_proteins(project_id: DbId, sequence_hash: str | None = None, user: User = Depends(caller),
                  session: Session = Depends(db_session)):
    require_role(session, user, project_id, Role.viewer)
    query = select(ProteinStructure).where(ProteinStructure.project_id == project_id)
    if sequence_hash:
        query = query.where(ProteinStructure.sequence_hash == sequence_hash)
    return [_summary(p) for p in session.scalars(query.order_by(ProteinStructure.id))]
