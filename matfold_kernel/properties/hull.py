"""Energy above the convex hull from a predicted formation energy.

The hull is built with pymatgen's :class:`~pymatgen.analysis.phase_diagram.PhaseDiagram`
from Materials Project reference phases: the lowest formation energy (eV/atom) of
every reduced formula in the Matbench ``mp_e_form`` training data, and the MP
elemental references (the elements at 0 eV/atom by definition of a formation
energy). The reference table ships with matfold (``data/hull_references.csv.gz``)
and is rebuilt from the shared data by :func:`build_reference_table`.

A phase diagram is built per chemical system on first use and cached.
"""

from __future__ import annotations

import functools
import gzip
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping


from .composition import parse_formula

__all__ = ["HullResult", "energy_above_hull", "build_reference_table", "reference_entries"]

_TABLE = Path(__file__).with_name("data") / "hull_references.csv.gz"


@dataclass
class HullResult:
    """e_above_hull (eV/atom, ≥ 0), the hull energy at that composition, and the phases it decomposes to."""

    e_above_hull: float
    hull_formation_energy: float
    decomposition: dict[str, float]
    below_hull_by: float  # > 0 when the predicted energy lies under the known hull


def build_reference_table(e_form_csv, elemental_refs: str | Path, out: str | Path = _TABLE) -> int:
    """Write the reference table from ``formula,target`` formation-energy CSV(s) and the MP elemental entries.

    Returns the number of phases written.
    """
    import pandas as pd
    from pymatgen.core import Composition

    paths = [e_form_csv] if isinstance(e_form_csv, (str, Path)) else list(e_form_csv)
    frame = pd.concat([pd.read_csv(p, keep_default_na=False, dtype={"formula": str}) for p in paths])
    frame["reduced"] = [Composition(f).reduced_formula for f in frame.formula]
    best = frame.groupby("reduced").target.min()
    with gzip.open(elemental_refs, "rt") as fh:
        refs = json.load(fh)
    elements = sorted({el for entry in (refs.values() if isinstance(refs, dict) else refs)
                       for el in _entry_elements(entry)})
    rows = [(e, 0.0) for e in elements if e not in best.index]
    rows += list(best.items())
    buf = io.StringIO()
    buf.write("chemsys,formula,formation_energy_per_atom\n")
    for f, e in rows:
        buf.write(f"{'-'.join(sorted(Composition(f).as_dict()))},{f},{e:.5f}\n")
    with gzip.open(out, "wt") as fh:
        fh.write(buf.getvalue())
    return len(rows)


def _entry_elements(entry) -> list[str]:
    comp = entry.get("composition", {}) if isinstance(entry, dict) else {}
    return list(comp)


@functools.lru_cache(maxsize=1)
def reference_entries() -> dict[frozenset, list[tuple[str, float]]]:
    """Reference phases (reduced formula, formation energy in eV/atom) grouped by their set of elements."""
    groups: dict[frozenset, list[tuple[str, float]]] = {}
    with gzip.open(_TABLE, "rt") as fh:
        next(fh)
        for line in fh:
            chemsys, formula, energy = line.rstrip("\n").split(",")
            groups.setdefault(frozenset(chemsys.split("-")), []).append((formula, float(energy)))
    return groups


@functools.lru_cache(maxsize=256)
def _phase_diagram(chemsys: frozenset):
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
    from pymatgen.core import Composition

    entries = [PDEntry(Composition({e: 1}), 0.0) for e in chemsys]
    for elements, phases in reference_entries().items():
        if elements <= chemsys:
            for formula, energy in phases:
                comp = Composition(parse_formula(formula))
                entries.append(PDEntry(comp, energy * comp.num_atoms))
    return PhaseDiagram(entries)


def energy_above_hull(composition: Mapping[str, float] | str, formation_energy: float) -> HullResult:
    """Energy above the hull (eV/atom) of a phase with this composition and formation energy (eV/atom)."""
    from pymatgen.core import Composition

    comp = Composition(parse_formula(composition) if isinstance(composition, str) else dict(composition))
    diagram = _phase_diagram(frozenset(el.symbol for el in comp.elements))
    hull_energy = float(diagram.get_hull_energy_per_atom(comp))
    decomposition = diagram.get_decomposition(comp)
    delta = float(formation_energy) - hull_energy
    return HullResult(
        e_above_hull=max(delta, 0.0),
        hull_formation_energy=hull_energy,
        decomposition={e.composition.reduced_formula: round(float(w), 4) for e, w in decomposition.items()},
        below_hull_by=max(-delta, 0.0),
    )
