"""What the store hands back: small records, structures as pymatgen objects."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Project", "MaterialRecord", "PredictionRecord"]


@dataclass(frozen=True)
class Project:
    id: int
    name: str
    role: str
    description: str = ""
    target_properties: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: dict) -> Project:
        return cls(id=data["id"], name=data["name"], role=data["role"], description=data.get("description", ""),
                   target_properties=tuple(data.get("target_properties") or ()))


@dataclass(frozen=True)
class MaterialRecord:
    """A saved material. `structure` is a pymatgen ``Structure`` when fetched whole."""

    id: int
    project_id: int
    formula: str
    reduced_formula: str
    spacegroup_symbol: str | None
    spacegroup_number: int | None
    elements: tuple[str, ...]
    source_database: str | None = None
    source_id: str | None = None
    structure: object = field(default=None, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: dict) -> MaterialRecord:
        structure = None
        if data.get("structure"):
            from ..crystal.dicts import structure_from_dict

            # never Structure.from_dict: monty would import whatever @module the server sent
            structure = structure_from_dict(data["structure"], name=f"material {data.get('id')} from the store",
                                            validate=False)
        return cls(id=data["id"], project_id=data["project_id"], formula=data["formula"],
                   reduced_formula=data["reduced_formula"], spacegroup_symbol=data.get("spacegroup_symbol"),
                   spacegroup_number=data.get("spacegroup_number"), elements=tuple(data.get("elements") or ()),
                   source_database=data.get("source_database"), source_id=data.get("source_id"),
                   structure=structure)


@dataclass(frozen=True)
class PredictionRecord:
    """One predicted value: `value` ± `uncertainty` in `unit`."""

    id: int
    property: str
    value: float
    unit: str
    uncertainty: float | None
    model: str | None = None
    model_version: str | None = None

    @classmethod
    def from_json(cls, data: dict) -> PredictionRecord:
        return cls(id=data["id"], property=data["property"], value=data["value"], unit=data["unit"],
                   uncertainty=data.get("uncertainty"), model=data.get("model"),
                   model_version=data.get("model_version"))
