"""Metadata of a crystal structure: formula, symmetry, volume, density."""

from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["StructureInfo", "structure_info", "SYMPREC"]

#: Default symmetry tolerance in Å (spglib ``symprec``, as pymatgen). With it the
#: 229 one-per-space-group COD/ICSD/MP structures of jarvis-tools all get their
#: published space group; 0.1 Å merges 5 of them into higher groups.
SYMPREC = 0.01


@dataclass(frozen=True)
class StructureInfo:
    """What a researcher reads first about a crystal.

    Attributes
    ----------
    formula : str
        Full formula of the cell, e.g. ``"Ba1Ti1O3"``.
    reduced_formula : str
        E.g. ``"BaTiO3"``.
    chemical_system : str
        Elements sorted and joined by ``-``, e.g. ``"Ba-O-Ti"``.
    natoms : int
        Number of sites in the cell.
    nelements : int
    spacegroup_symbol : str
        Hermann-Mauguin short symbol, e.g. ``"Pm-3m"``.
    spacegroup_number : int
        International Tables number, 1-230.
    crystal_system : str
        ``"triclinic"`` … ``"cubic"``.
    volume : float
        Cell volume in Å³.
    density : float
        Mass density in g/cm³.
    """

    formula: str
    reduced_formula: str
    chemical_system: str
    natoms: int
    nelements: int
    spacegroup_symbol: str
    spacegroup_number: int
    crystal_system: str
    volume: float
    density: float

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict (the ``matfold info --json`` keys)."""
        return asdict(self)

    def _repr_html_(self) -> str:
        rows = [
            ("Formula", f"{self.reduced_formula} ({self.formula}, {self.natoms} atoms)"),
            ("Space group", f"{self.spacegroup_symbol} (No. {self.spacegroup_number})"),
            ("Crystal system", self.crystal_system),
            ("Chemical system", self.chemical_system),
            ("Volume", f"{self.volume:.3f} Å³"),
            ("Density", f"{self.density:.3f} g/cm³"),
        ]
        body = "".join(
            f"<tr><th style='text-align:left;padding-right:1em'>{k}</th><td>{v}</td></tr>"
            for k, v in rows
        )
        return f"<table class='matfold-structure-info'>{body}</table>"


def structure_info(structure, symprec: float = SYMPREC, angle_tolerance: float = 5.0) -> StructureInfo:
    """Formula, symmetry and density of `structure`.

    Parameters
    ----------
    structure : pymatgen.core.Structure
    symprec : float
        Symmetry tolerance in Å (spglib).
    angle_tolerance : float
        Angle tolerance in degrees (spglib).

    Returns
    -------
    StructureInfo
    """
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    composition = structure.composition
    try:
        analyzer = SpacegroupAnalyzer(structure, symprec=symprec, angle_tolerance=angle_tolerance)
        symbol = analyzer.get_space_group_symbol()
        number = int(analyzer.get_space_group_number())
        system = analyzer.get_crystal_system()
    except Exception:  # spglib found no symmetry at this tolerance: P1 is the honest answer
        symbol, number, system = "P1", 1, "triclinic"
    return StructureInfo(
        formula="".join(composition.formula.split()),
        reduced_formula=composition.reduced_formula,
        chemical_system=composition.chemical_system,
        natoms=len(structure),
        nelements=len(composition.elements),
        spacegroup_symbol=symbol,
        spacegroup_number=number,
        crystal_system=system,
        volume=round(float(structure.volume), 6),
        density=round(float(structure.density), 6),
    )
