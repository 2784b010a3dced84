"""The eleven composition tasks matfold trains on, and which property each one serves.

Each task is a folder ``<task>/{train,val}.csv`` with columns ``formula,target``
(Materials Project, AFLOW and Matbench data; see ``scripts/TRAINING.md``). ``crabnet_mae`` is
CrabNet's published test MAE on the task, the bar our models are compared with.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import MatfoldInputError

__all__ = ["Task", "TASKS", "DEFAULT_TASK", "require_task"]


@dataclass(frozen=True)
class Task:
    """A training task: its property, unit (of the CSV target) and provenance."""

    name: str
    property: str
    unit: str
    source: str
    crabnet_mae: float
    log10: bool = False  # target is log10 of the property (matbench_log_*)


TASKS: dict[str, Task] = {
    t.name: t
    for t in [
        Task("matbench_mp_e_form", "formation_energy", "eV/atom", "Materials Project (Matbench v0.1)", 0.0773),
        Task("matbench_mp_gap", "band_gap", "eV", "Materials Project PBE (Matbench v0.1)", 0.263),
        Task("matbench_log_kvrh", "bulk_modulus", "log10(GPa)", "Materials Project (Matbench v0.1)", 0.0678, True),
        Task("matbench_log_gvrh", "shear_modulus", "log10(GPa)", "Materials Project (Matbench v0.1)", 0.0921, True),
        Task("aflow__ael_bulk_modulus_vrh", "bulk_modulus", "GPa", "AFLOW AEL-AGL", 8.69),
        Task("aflow__ael_shear_modulus_vrh", "shear_modulus", "GPa", "AFLOW AEL-AGL", 9.08),
        Task("aflow__ael_debye_temperature", "debye_temperature", "K", "AFLOW AEL-AGL", 33.5),
        Task("aflow__Egap", "band_gap", "eV", "AFLOW", 0.302),
        Task("mp_bulk_modulus", "bulk_modulus", "GPa", "Materials Project (CrabNet benchmark)", 11.2),
        Task("mp_shear_modulus", "shear_modulus", "GPa", "Materials Project (CrabNet benchmark)", 12.8),
        Task("mp_e_hull", "e_above_hull", "eV/atom", "Materials Project (CrabNet benchmark)", 0.0886),
    ]
}

#: The task whose model answers for a property when none is named.
DEFAULT_TASK = {
    "formation_energy": "matbench_mp_e_form",
    "band_gap": "matbench_mp_gap",
    "bulk_modulus": "mp_bulk_modulus",
    "shear_modulus": "mp_shear_modulus",
    "debye_temperature": "aflow__ael_debye_temperature",
    "e_above_hull": "mp_e_hull",
}


def require_task(name: str) -> Task:
    """The task called ``name``; a :class:`MatfoldInputError` naming the eleven if there is none."""
    if name not in TASKS:
        raise MatfoldInputError(f"unknown task {name!r}; choose one of: {', '.join(TASKS)}")
    return TASKS[name]
