"""CHGNet (Deng et al., Nat. Mach. Intell. 5, 1031 (2023)) as a universal potential for crystal properties.

CHGNet 0.4 ships its pretrained weights (MPtrj, version 0.3.0) inside the wheel,
so it runs offline. It gives the total energy, forces and stress of a structure;
from these matfold derives:

- **formation energy** per atom: CHGNet's energy per atom minus the composition-
  weighted energies per atom of Materials Project's elemental ground states
  (``data/mp_elemental_references.json``, MP database 2023-02-07). CHGNet was
  trained on MP energies with the MP2020 corrections applied, so this is an
  MP2020-style formation energy (current Materials Project values), not the
  2018 values MEGNet was trained on;
- **relaxed structures** (FIRE with a Fréchet cell filter), optionally before any
  prediction;
- **bulk modulus** from a Birch-Murnaghan fit of E(V) over 7 volumes from -6 % to
  +6 % around the (relaxed) structure, ions relaxed at each fixed volume.

Units: energies eV and eV/atom, volumes Å³, stresses and moduli GPa.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MatfoldInputError
from .deps import require
from .base import PROPERTIES, ModelCard, Prediction, PropertyModel
from .graphs import as_structure

__all__ = [
    "EV_PER_A3_TO_GPA",
    "CHGNetModel",
    "EOSResult",
    "bulk_modulus",
    "elemental_references",
    "formation_energy_per_atom",
    "load_chgnet",
    "relax",
]

#: 1 eV/Å³ in GPa.
EV_PER_A3_TO_GPA = 160.21766208

_REFS = Path(__file__).parent / "data" / "mp_elemental_references.json"
_REFERENCE = ("Deng, B. et al. CHGNet as a pretrained universal neural network potential for charge-informed "
              "atomistic modelling. Nat. Mach. Intell. 5, 1031-1041 (2023). doi:10.1038/s42256-023-00716-3")


@lru_cache(maxsize=1)
def elemental_references() -> dict[str, float]:
    """Energy per atom (eV/atom) of Materials Project's ground state of each element (89 elements)."""
    return dict(json.loads(_REFS.read_text())["energy_per_atom"])


def formation_energy_per_atom(composition, energy_per_atom: float) -> float:
    """Formation energy per atom (eV/atom) of a compound with total energy ``energy_per_atom`` (eV/atom).

    Raises
    ------
    MatfoldInputError
        An element has no Materials Project reference energy.
    """
    from pymatgen.core import Composition

    comp = Composition(composition)
    refs = elemental_references()
    missing = [el.symbol for el in comp if el.symbol not in refs]
    if missing:
        raise MatfoldInputError(
            f"no Materials Project reference energy for {', '.join(missing)}; formation energies are "
            f"available for {len(refs)} elements (H-Bi and Ac-Pu without Po, At, Rn, Fr, Ra)"
        )
    ref = sum(amt * refs[el.symbol] for el, amt in comp.items()) / comp.num_atoms
    return float(energy_per_atom) - ref


def _chgnet():
    require("CHGNet", ["torch", "chgnet.model"], "'torch==2.13.0' 'chgnet>=0.4,<0.5'")
    from chgnet.model import CHGNet

    return CHGNet


@lru_cache(maxsize=4)
def _load_network(model_name: str = "0.3.0", device: str = "cpu"):
    CHGNet = _chgnet()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # "CHGNet v0.3.0 initialized with ..."
            return CHGNet.load(model_name=model_name, use_device=device, verbose=False)
    except ValueError as exc:
        raise MatfoldInputError(f"unknown CHGNet model {model_name!r}: {exc}") from None


def _check(structure, k: int | None = None):
    try:
        s = as_structure(structure)
        if not s.is_ordered:
            bad = next(i for i, site in enumerate(s) if not site.is_ordered)
            raise MatfoldInputError(
                f"site {bad + 1} ({s[bad].species_string}) is disordered; CHGNet needs one element per "
                "fully occupied site. Order the structure first or use a composition model"
            )
        too_heavy = sorted({site.specie.symbol for site in s if site.specie.Z > 94})
        if too_heavy:
            raise MatfoldInputError(f"element(s) {', '.join(too_heavy)} beyond Pu: CHGNet knows Z = 1-94")
    except MatfoldInputError as exc:
        if k is None:
            raise
        raise MatfoldInputError(f"input {k}: {exc}") from None
    return s


def relax(structure, *, fmax: float = 0.05, steps: int = 500, relax_cell: bool = True, model=None):
    """Relax ``structure`` with CHGNet (FIRE; Fréchet cell filter when ``relax_cell``).

    Parameters
    ----------
    fmax : float
        Force convergence, eV/Å (the cell filter scales stresses into the same criterion).
    steps : int
        At most this many optimiser steps.

    Returns
    -------
    (structure, energy_per_atom, converged) : (pymatgen.core.Structure, float, bool)
        The relaxed structure, its CHGNet energy in eV/atom, and whether the final forces are
        within ``fmax``.
    """
    from chgnet.model import StructOptimizer

    s = _check(structure)
    net = model if model is not None else _load_network()
    device = str(next(net.parameters()).device)
    with contextlib.redirect_stdout(io.StringIO()):  # the calculator prints its device unconditionally
        optimizer = StructOptimizer(model=net, use_device=device)
    result = optimizer.relax(s, fmax=fmax, steps=steps, relax_cell=relax_cell, verbose=False)
    traj = result["trajectory"]
    final = result["final_structure"]
    energy = float(traj.energies[-1]) / len(final)
    forces = np.asarray(traj.forces[-1])
    converged = bool(np.all(np.linalg.norm(forces, axis=1) <= fmax * 1.0001))
    final.properties = dict(getattr(s, "properties", {}) or {})
    return final, energy, converged


@dataclass
class EOSResult:
    """A Birch-Murnaghan fit of E(V).

    Attributes
    ----------
    bulk_modulus : float
        B0, GPa.
    v0 : float
        Equilibrium volume, Å³ per cell.
    e0 : float
        Energy at v0, eV per cell.
    b1 : float
        dB/dP at v0 (dimensionless).
    volumes, energies : np.ndarray, shape=(7,)
        The sampled cell volumes (Å³) and CHGNet energies (eV per cell).
    """

    bulk_modulus: float
    v0: float
    e0: float
    b1: float
    volumes: np.ndarray
    energies: np.ndarray


def bulk_modulus(structure, *, relax_first: bool = True, relax_ions: bool = True, strain: float = 0.06,
                 points: int = 7, fmax: float = 0.05, model=None) -> EOSResult:
    """Bulk modulus (GPa) from a Birch-Murnaghan fit of CHGNet E(V).

    The cell is scaled isotropically to ``points`` volumes from ``1 - strain`` to
    ``1 + strain`` times the volume of ``structure`` (after a full relaxation when
    ``relax_first``); at each volume the ions are relaxed at fixed cell when ``relax_ions``.

    Raises
    ------
    MatfoldInputError
        An unusable structure, or a fit that does not give a positive modulus.
    """
    from pymatgen.analysis.eos import EOS

    s = _check(structure)
    net = model if model is not None else _load_network()
    if relax_first:
        s, _, _ = relax(s, fmax=fmax, model=net)
    v_ref = s.volume
    volumes, energies = [], []
    for f in np.linspace(1 - strain, 1 + strain, points):
        t = s.copy()
        t.scale_lattice(v_ref * f)
        if relax_ions:
            t, e, _ = relax(t, fmax=fmax, relax_cell=False, model=net)
            energy = e * len(t)
        else:
            energy = float(net.predict_structure(t, task="e")["e"]) * len(t)
        volumes.append(t.volume)
        energies.append(energy)
    fit = EOS("birch_murnaghan").fit(volumes, energies)
    b0 = float(fit.b0) * EV_PER_A3_TO_GPA
    if not np.isfinite(b0) or b0 <= 0:
        raise MatfoldInputError(f"the E(V) fit gave a bulk modulus of {b0!r} GPa; the structure may be unstable")
    return EOSResult(b0, float(fit.v0), float(fit.e0), float(fit.b1), np.array(volumes), np.array(energies))


class CHGNetModel(PropertyModel):
    """CHGNet behind matfold's :class:`PropertyModel` interface.

    ``property`` is ``"formation_energy"`` (eV/atom, against MP elemental references)
    or ``"bulk_modulus"`` (GPa, E(V) fit). With ``relax=True`` each structure is relaxed
    (cell and ions) before the formation energy is computed; the bulk modulus always
    starts from a relaxed structure. ``std`` is NaN.
    """

    #: Structures per CHGNet forward pass (energies only).
    batch_size = 16

    def __init__(self, net, property: str = "formation_energy", *, relax: bool = False, fmax: float = 0.05,
                 steps: int = 500, model_name: str = "0.3.0"):
        if property not in ("formation_energy", "bulk_modulus"):
            raise MatfoldInputError(
                f"CHGNet predicts 'formation_energy' or 'bulk_modulus' in matfold, not {property!r}")
        self.net = net
        self.property = property
        self.relax = relax
        self.fmax = fmax
        self.steps = steps
        self.card = _card(property, relax, model_name, net)

    def __repr__(self) -> str:
        return f"<CHGNetModel {self.property} ({self.card.unit}){' relaxed' if self.relax else ''}>"

    def predict_batch(self, inputs: Sequence[Any]) -> Prediction:
        inputs = list(inputs)
        if not inputs:
            return Prediction(np.zeros(0), np.zeros(0), [])
        structures = [_check(obj, k) for k, obj in enumerate(inputs)]
        warnings: list[list[str]] = [[] for _ in structures]
        if self.property == "bulk_modulus":
            mean = np.full(len(structures), np.nan)
            for k, s in enumerate(structures):
                try:
                    mean[k] = bulk_modulus(s, fmax=self.fmax, model=self.net).bulk_modulus
                except MatfoldInputError as exc:
                    warnings[k].append(str(exc))
            return Prediction(mean, np.full(mean.shape, np.nan), warnings)
        energies = np.full(len(structures), np.nan)
        if self.relax:
            for k, s in enumerate(structures):
                _, energies[k], converged = relax(s, fmax=self.fmax, steps=self.steps, model=self.net)
                if not converged:
                    warnings[k].append(f"relaxation did not reach fmax {self.fmax} eV/Å in {self.steps} steps")
        else:
            for i in range(0, len(structures), self.batch_size):
                chunk = structures[i:i + self.batch_size]
                out = self.net.predict_structure(chunk, task="e", batch_size=self.batch_size)
                for j, pred in enumerate(out if isinstance(out, list) else [out]):
                    energies[i + j] = float(pred["e"])
        mean = np.full(len(structures), np.nan)
        for k, s in enumerate(structures):
            try:
                mean[k] = formation_energy_per_atom(s.composition, energies[k])
            except MatfoldInputError as exc:
                warnings[k].append(str(exc))
        return Prediction(mean, np.full(mean.shape, np.nan), warnings)

    def predict(self, structure) -> float:
        """The property of one structure, in :attr:`card.unit`."""
        return float(self.predict_batch([structure]).mean[0])

    def energy(self, structure) -> dict[str, np.ndarray | float]:
        """CHGNet's raw outputs for one structure: ``energy_per_atom`` (eV/atom), ``forces``
        (eV/Å, shape=(n, 3)), ``stress`` (GPa, shape=(3, 3)), ``magmoms`` (μB, shape=(n,))."""
        pred = self.net.predict_structure(_check(structure), task="efsm")
        return {"energy_per_atom": float(pred["e"]), "forces": np.asarray(pred["f"]),
                "stress": np.asarray(pred["s"]), "magmoms": np.asarray(pred["m"])}


def _card(property: str, relaxed: bool, model_name: str, net) -> ModelCard:
    n_params = sum(p.numel() for p in net.parameters())
    if property == "formation_energy":
        notes = ("CHGNet energy per atom minus Materials Project elemental ground-state energies (MP "
                 "2023-02-07). CHGNet was trained on MP2020-corrected energies, so values follow current "
                 "Materials Project formation energies. Measured here on 25 compounds: MAE 0.05 eV/atom "
                 "vs. MP's 2018 values, 0.09 vs. experiment; elemental solids are not exactly 0 (Si +0.11 eV/atom). "
                 + ("Each structure is relaxed (cell and ions) first." if relaxed
                    else "Structures are used as given: relax=True relaxes them first."))
        training = "MPtrj (Materials Project relaxation trajectories, 1.58 M structures, MP2020 corrections)"
        mae = 0.030  # energy MAE of the potential on its test set, eV/atom
    else:
        notes = ("Birch-Murnaghan fit of CHGNet E(V) over 7 volumes within ±6 % of the relaxed cell, ions "
                 "relaxed at each volume. Measured here: Si 78, Cu 154, NaCl 25, Al 55 GPa against about "
                 "88-98, 140, 24-25, 76 (PBE/experiment): CHGNet's energy surface is softer than DFT's "
                 "for some solids (Al -28 %, Si -15 %). About 1-5 s per small cell (8 relaxations).")
        training = "MPtrj (Materials Project relaxation trajectories, 1.58 M structures)"
        mae = None
    return ModelCard(
        name=f"CHGNet {model_name}",
        version=f"chgnet wheel, pretrained {model_name}",
        property=property,
        unit=PROPERTIES[property].unit,
        input="structure",
        training_data=training,
        size=f"{n_params:,} parameters",
        val_mae=mae,
        licence="BSD-3-Clause (CHGNet code and weights)",
        reference=_REFERENCE,
        notes=notes,
        extra={"relax": relaxed, "model_name": model_name},
    )


def load_chgnet(property: str = "formation_energy", *, relax: bool = False, fmax: float = 0.05,
                steps: int = 500, model_name: str = "0.3.0", device: str = "cpu") -> CHGNetModel:
    """CHGNet as a :class:`CHGNetModel` for ``property`` ("formation_energy" or "bulk_modulus").

    Raises
    ------
    MatfoldInputError
        Unknown property or CHGNet model name.
    MatfoldDependencyError
        torch or chgnet not installed.
    """
    if property not in ("formation_energy", "bulk_modulus"):
        raise MatfoldInputError(
            f"CHGNet predicts 'formation_energy' or 'bulk_modulus' in matfold, not {property!r}")
    return CHGNetModel(_load_network(model_name, device), property, relax=relax, fmax=fmax, steps=steps,
                       model_name=model_name)
