"""Materials, their predictions and experimental results, and the comparison of both."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..access import require_role
from ..idempotency import Idempotency, idempotency
from ..models import ExperimentalResult, Material, ModelVersion, Prediction, Role, User
from ..problems import Invalid, NotFound
from ..similarity import MaterialEmbedding
from ..structures import check_size, structure_workers
from .deps import DbId, caller, db_session

__all__ = ["router", "material_summary"]

router = APIRouter(tags=["materials"])


class MaterialIn(BaseModel):
    structure: dict | str = Field(
        description="The structure as text (CIF, POSCAR/CONTCAR, extxyz, or pymatgen JSON) or as a pymatgen "
                    "Structure.as_dict() object; never a file path. At most 2 MiB.")
    format: Literal["cif", "poscar", "extxyz", "json"] | None = Field(
        default=None, description="Format of structure text; detected from the content when left out")
    source_database: str | None = Field(default=None, max_length=64)
    source_id: str | None = Field(default=None, max_length=128)
    embedding: MaterialEmbedding | None = None


class ValueIn(BaseModel):
    property: str = Field(min_length=1, max_length=64)
    value: float = Field(allow_inf_nan=False)
    unit: str = Field(min_length=1, max_length=32)
    uncertainty: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class PredictionIn(ValueIn):
    model_name: str | None = Field(default=None, max_length=128)
    model_version: str | None = Field(default=None, max_length=64)


class ExperimentIn(ValueIn):
    reference: str | None = Field(default=None, max_length=500)


def material_summary(m: Material) -> dict:
    return {"id": m.id, "project_id": m.project_id, "formula": m.formula,
            "reduced_formula": m.reduced_formula, "elements": list(m.elements),
            "spacegroup_number": m.spacegroup_number, "spacegroup_symbol": m.spacegroup_symbol,
            "source_database": m.source_database, "source_id": m.source_id,
            "has_embedding": m.embedding is not None, "created_at": m.created_at.isoformat()}


def _material(session: Session, user: User, material_id: DbId, minimum: Role) -> Material:
    missing = f"material {material_id} not found (or you are not a member of its project)"
    material = session.get(Material, material_id)
    if material is None:
        raise NotFound(missing)
    require_role(session, user, material.project_id, minimum, missing=missing)
    return material


@router.post("/projects/{project_id}/materials", status_code=201, summary="Save a material (editor)")
async def save_material(project_id: DbId, body: MaterialIn, user: User = Depends(caller),
                        session: Session = Depends(db_session), idem: Idempotency = Depends(idempotency)):
    """Parse the structure in a bounded worker process (text only, never a path; pymatgen dicts
    through an allow-list), then store it with its formula and space group."""
    await run_in_threadpool(require_role, session, user, project_id, Role.editor)
    check_size(body.structure)  # here, not in the model: a validation error would echo 2 MiB back
    parsed = await structure_workers().parse_async(body.structure, body.format, caller=user.id)
    return await run_in_threadpool(_store_material, session, user, project_id, body, parsed, idem)


def _store_material(session: Session, user: User, project_id: int, body: MaterialIn, parsed: dict,
                    idem: Idempotency) -> dict:
    info = parsed["info"]
    material = Material(project_id=project_id, formula=info["formula"], reduced_formula=info["reduced_formula"],
                        elements=sorted(info["chemical_system"].split("-")),
                        spacegroup_number=info["spacegroup_number"], spacegroup_symbol=info["spacegroup_symbol"],
                        structure=parsed["structure"], source_database=body.source_database,
                        source_id=body.source_id, embedding=body.embedding, created_by=user.id)
    session.add(material)
    return idem.commit(201, lambda: material_summary(material))


@router.get("/projects/{project_id}/materials", summary="List a project's materials, filtered")
def list_materials(project_id: DbId,
                   formula: str | None = Query(default=None, description="reduced formula, e.g. LiFePO4"),
                   elements: str | None = Query(default=None, description="comma-separated; all must be present"),
                   spacegroup: int | None = Query(default=None, ge=1, le=230),
                   property: str | None = Query(default=None, description="filter on a predicted property"),
                   min: float | None = Query(default=None, description="lower bound of `property`"),
                   max: float | None = Query(default=None, description="upper bound of `property`"),
                   limit: int = Query(default=100, ge=1, le=1000), offset: int = Query(default=0, ge=0, le=10**9),
                   user: User = Depends(caller), session: Session = Depends(db_session)):
    require_role(session, user, project_id, Role.viewer)
    query = select(Material).where(Material.project_id == project_id)
    if formula:
        query = query.where(Material.reduced_formula == formula)
    if elements:
        wanted = sorted({e.strip() for e in elements.split(",") if e.strip()})
        query = query.where(Material.elements.contains(wanted))
    if spacegroup:
        query = query.where(Material.spacegroup_number == spacegroup)
    if (min is not None or max is not None) and not property:
        raise Invalid("min/max filter a predicted property: add property=NAME")
    if property:
        values = select(Prediction.material_id).where(Prediction.property == property)
        if min is not None:
            values = values.where(Prediction.value >= min)
        if max is not None:
            values = values.where(Prediction.value <= max)
        query = query.where(Material.id.in_(values))
    rows = session.scalars(query.order_by(Material.id).limit(limit).offset(offset)).all()
    return [material_summary(m) for m in rows]


@router.get("/materials/{material_id}", summary="One material with its structure")
def get_material(material_id: DbId, user: User = Depends(caller), session: Session = Depends(db_session)):
    material = _material(session, user, material_id, Role.viewer)
    return material_summary(material) | {"structure": material.structure}


@router.post("/materials/{material_id}/predictions", status_code=201, summary="Save a prediction (editor)")
def save_prediction(material_id: DbId, body: PredictionIn, user: User = Depends(caller),
                    session: Session = Depends(db_session), idem: Idempotency = Depends(idempotency)):
    _material(session, user, material_id, Role.editor)
    model_id = None
    if body.model_name:
        version = body.model_version or "unversioned"
        model = session.scalars(select(ModelVersion).where(ModelVersion.name == body.model_name,
                                                           ModelVersion.version == version)).first()
        if model is None:
            model = ModelVersion(name=body.model_name, version=version, property=body.property,
                                 unit=body.unit, card={})
            session.add(model)
            session.flush()
        model_id = model.id
    prediction = Prediction(material_id=material_id, model_version_id=model_id, property=body.property,
                            value=body.value, unit=body.unit, uncertainty=body.uncertainty, created_by=user.id)
    session.add(prediction)
    return idem.commit(201, lambda: {"id": prediction.id, "material_id": material_id, "property": body.property,
                                     "value": body.value, "unit": body.unit, "uncertainty": body.uncertainty,
                                     "model": body.model_name})


@router.get("/materials/{material_id}/predictions", summary="Prediction history, newest first")
def list_predictions(material_id: DbId, property: str | None = None, user: User = Depends(caller),
                     session: Session = Depends(db_session)):
    _material(session, user, material_id, Role.viewer)
    query = (select(Prediction, ModelVersion).outerjoin(ModelVersion, ModelVersion.id == Prediction.model_version_id)
             .where(Prediction.material_id == material_id))
    if property:
        query = query.where(Prediction.property == property)
    rows = session.execute(query.order_by(Prediction.created_at.desc(), Prediction.id.desc())).all()
    return [{"id": p.id, "property": p.property, "value": p.value, "unit": p.unit, "uncertainty": p.uncertainty,
             "model": m.name if m else None, "model_version": m.version if m else None,
             "created_at": p.created_at.isoformat()} for p, m in rows]


@router.post("/materials/{material_id}/experiments", status_code=201, summary="Save a measured value (editor)")
def save_experiment(material_id: DbId, body: ExperimentIn, user: User = Depends(caller),
                    session: Session = Depends(db_session), idem: Idempotency = Depends(idempotency)):
    _material(session, user, material_id, Role.editor)
    result = ExperimentalResult(material_id=material_id, property=body.property, value=body.value,
                                unit=body.unit, uncertainty=body.uncertainty, reference=body.reference,
                                created_by=user.id)
    session.add(result)
    return idem.commit(201, lambda: {"id": result.id, "material_id": material_id, **body.model_dump()})


@router.get("/projects/{project_id}/comparison", summary="Predicted vs measured for one property")
def comparison(project_id: DbId, property: str, user: User = Depends(caller), session: Session = Depends(db_session)):
    """Latest prediction against the mean measurement per material; MAE over the pairs."""
    require_role(session, user, project_id, Role.viewer)
    latest = (select(Prediction.material_id, Prediction.value, Prediction.uncertainty, Prediction.unit,
                     func.row_number().over(partition_by=Prediction.material_id,
                                            order_by=(Prediction.created_at.desc(), Prediction.id.desc())).label("n"))
              .where(Prediction.property == property).subquery())
    measured = (select(ExperimentalResult.material_id, func.avg(ExperimentalResult.value).label("value"),
                       func.count().label("count"))
                .where(ExperimentalResult.property == property)
                .group_by(ExperimentalResult.material_id).subquery())
    rows = session.execute(
        select(Material.id, Material.reduced_formula, latest.c.value, latest.c.uncertainty, latest.c.unit,
               measured.c.value, measured.c.count)
        .join(latest, (latest.c.material_id == Material.id) & (latest.c.n == 1))
        .join(measured, measured.c.material_id == Material.id)
        .where(Material.project_id == project_id).order_by(Material.id)).all()
    pairs = [{"material_id": mid, "formula": formula, "predicted": pred, "uncertainty": unc, "unit": unit,
              "measured": float(meas), "measurements": count, "error": pred - float(meas)}
             for mid, formula, pred, unc, unit, meas, count in rows]
    mae = sum(abs(p["error"]) for p in pairs) / len(pairs) if pairs else None
    within = sum(1 for p in pairs if p["uncertainty"] and abs(p["error"]) <= p["uncertainty"])
    return {"property": property, "pairs": pairs, "count": len(pairs), "mae": mae,
            "within_1_sigma": within / len(pairs) if pairs else None}
