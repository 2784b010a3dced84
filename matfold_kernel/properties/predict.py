"""``matfold_kernel.predict``: six crystal properties with uncertainties, for formulas or structures.

>>> from matfold_kernel import predict
>>> predict("LiFePO4")                      # doctest: +SKIP
>>> predict(["NaCl", "GaAs"], properties=["band_gap"], backend="onnx")  # doctest: +SKIP

Each row is one property of one input: ``value`` and ``uncertainty`` (one standard
deviation, calibrated on validation data) in ``unit``, the ``model`` and its
``version``, the ``source`` (``composition``, ``structure`` or ``convex hull``) and
``warnings`` (e.g. an element the model never saw in training). Energy above hull
comes twice: from the direct ``mp_e_hull`` model and from the predicted formation
energy against the Materials Project convex hull.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from .. import config
from ..crystal import read_structure
from ..errors import MatfoldError, MatfoldInputError
from .base import PROPERTIES
from .compnet import MAX_ELEMENTS
from .composition import parse_formula
from .hull import energy_above_hull
from .models import MODEL_VERSION, load_composition_model
from .registry import STRUCTURE_MODELS, structure_model
from .tasks import DEFAULT_TASK, TASKS

__all__ = ["predict", "predict_formulas", "FormulaPredictions", "PropertyTable"]


#: Properties that cannot be negative: predictions below 0 are reported as 0.
NON_NEGATIVE = frozenset({"band_gap", "bulk_modulus", "shear_modulus", "debye_temperature", "e_above_hull"})


@dataclass
class FormulaPredictions:
    """Per-formula results of one task: NaN and an ``errors`` entry where a formula was refused."""

    mean: np.ndarray
    std: np.ndarray
    errors: list[str]
    warnings: list[list[str]]


def _select_backend(backend: str) -> str:
    if backend not in ("auto", "torch", "onnx"):
        raise MatfoldInputError(f"unknown backend {backend!r}: use 'auto', 'torch' or 'onnx'")
    if backend == "auto":
        return config.predict_backend()
    return backend


def predict_formulas(formulas: Sequence[Any], task: str, *, model_path: str | Path | None = None,
                     backend: str = "auto", unit: str = "task") -> FormulaPredictions:
    """Run the composition ensemble of ``task`` over formulas, refusing bad ones one by one.

    ``unit="task"`` returns values in the task's CSV unit (log10 GPa for
    ``matbench_log_*``); ``unit="property"`` converts those to GPa.
    """
    model = load_composition_model(task, model_path)
    backend = _select_backend(backend)
    counts = model.metrics.get("element_counts") or {}
    n = len(formulas)
    errors = [""] * n
    warns: list[list[str]] = [[] for _ in range(n)]
    good, comps = [], []
    for i, f in enumerate(formulas):
        try:
            comp = parse_formula(f) if isinstance(f, str) else _as_mapping(f)
            if len(comp) > MAX_ELEMENTS:
                raise MatfoldInputError(f"{len(comp)} elements; the composition models take at most {MAX_ELEMENTS}")
        except MatfoldInputError as exc:
            errors[i] = str(exc)
            continue
        good.append(i)
        comps.append(comp)
        if counts:
            unseen = [s for s in comp if counts.get(s, 0) == 0]
            rare = [s for s in comp if 0 < counts.get(s, 0) < 5]
            if unseen:
                warns[i].append(f"{', '.join(unseen)} never occurs in the {task} training data: "
                                "an extrapolation, trust it less than the uncertainty says")
            if rare:
                warns[i].append(f"{', '.join(rare)} occurs in fewer than 5 {task} training formulas")
        max_el = model.metrics.get("max_elements")
        if max_el and len(comp) > max_el:
            warns[i].append(f"{len(comp)} elements; the {task} training formulas have at most {max_el}")
    mean = np.full(n, np.nan)
    std = np.full(n, np.nan)
    if good:
        idx, frac = model.encode(comps)
        pred = model.predict_arrays(idx, frac, backend=backend)
        mean[good], std[good] = pred.value, pred.std
        if TASKS[task].property in NON_NEGATIVE and not TASKS[task].log10:
            mean = np.where(np.isnan(mean), mean, np.maximum(mean, 0.0))
    if unit == "property" and TASKS[task].log10:
        # lognormal: value 10**mu, uncertainty by the delta method
        std = np.log(10) * 10**mean * std
        mean = 10**mean
    return FormulaPredictions(mean, std, errors, warns)


def _as_mapping(obj) -> dict[str, float]:
    if isinstance(obj, dict):
        comp = {str(k): float(v) for k, v in obj.items()}
        for sym in comp:
            parse_formula(sym)  # refuses unknown symbols with the usual message
        return comp
    if hasattr(obj, "get_el_amt_dict"):  # pymatgen Composition
        return _as_mapping(obj.get_el_amt_dict())
    raise MatfoldInputError(f"cannot read a composition from {type(obj).__name__} {obj!r}")


@dataclass
class _Input:
    label: str
    composition: dict[str, float] | None
    structure: Any = None
    error: str = ""
    warnings: list[str] = field(default_factory=list)


def _inputs(x) -> list[_Input]:
    from pymatgen.core import Composition, Structure

    single = isinstance(x, (str, Path, dict, Composition, Structure)) or hasattr(x, "get_chemical_symbols")
    items = [x] if single or not isinstance(x, Iterable) else list(x)  # ase Atoms iterate over atoms
    out = []
    for item in items:
        try:
            if isinstance(item, (str, Path)) and _looks_like_file(item):
                s = read_structure(item)
                out.append(_Input(str(item), s.composition.get_el_amt_dict(), s))
            elif isinstance(item, str):
                out.append(_Input(item, parse_formula(item)))
            elif isinstance(item, Structure):
                out.append(_Input(item.composition.reduced_formula, item.composition.get_el_amt_dict(), item))
            elif type(item).__name__ == "Atoms":  # ase
                from pymatgen.io.ase import AseAtomsAdaptor

                s = AseAtomsAdaptor.get_structure(item)
                out.append(_Input(s.composition.reduced_formula, s.composition.get_el_amt_dict(), s))
            else:
                comp = _as_mapping(item)
                out.append(_Input(Composition(comp).reduced_formula, comp))
        except MatfoldInputError as exc:
            out.append(_Input(str(item), None, error=str(exc)))
    return out


_STRUCTURE_SUFFIXES = {".cif", ".vasp", ".poscar", ".xyz", ".extxyz", ".json", ".gz"}


def _looks_like_file(item) -> bool:
    """A path, an existing file, or a name that reads like a structure file (then "no such file")."""
    p = Path(item)
    return (isinstance(item, Path) or p.exists() or os.sep in str(item)
            or p.suffix.lower() in _STRUCTURE_SUFFIXES or p.name.upper().startswith(("POSCAR", "CONTCAR")))


class PropertyTable(list):
    """Rows of predictions (a list of dicts) that shows as a table in a notebook.

    Plain data: ``to_dataframe()`` gives a pandas DataFrame; the prediction panel widget
    draws one: ``PredictionPanel(table)`` (the widgets package, a layer above this one).
    """

    columns = ("input", "formula", "property", "value", "uncertainty", "unit", "model", "version",
               "source", "warnings", "error")

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame(list(self), columns=list(self.columns))

    def __repr__(self):
        frame = self.to_dataframe()
        frame["warnings"] = frame["warnings"].map(lambda w: f"{len(w)} warning(s)" if w else "")
        return frame.drop(columns=["input", "version"]).to_string(index=False, float_format=lambda v: f"{v:.4g}")

    def _repr_html_(self):
        frame = self.to_dataframe()
        frame["warnings"] = frame["warnings"].map(lambda w: "; ".join(w))
        return frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="")


def predict(x, properties: Sequence[str] | str | None = None, backend: str = "auto",
            hull: bool = True, structure_models: bool = True) -> PropertyTable:
    """Predict crystal properties with uncertainties for one or many formulas or structures.

    Parameters
    ----------
    x : str, Path, pymatgen Structure or Composition, ase Atoms, dict, or a list of these
        A formula (``"LiFePO4"``), a structure file (CIF, POSCAR, extxyz), or objects.
    properties : list of str, optional
        Any of ``formation_energy`` (eV/atom), ``band_gap`` (eV), ``bulk_modulus`` (GPa),
        ``shear_modulus`` (GPa), ``debye_temperature`` (K), ``e_above_hull`` (eV/atom).
        All six by default.
    backend : {"auto", "torch", "onnx"}
        PyTorch (CUDA when present) or ONNX Runtime (CUDA provider when present).
    hull : bool
        Also give energy above hull from the predicted formation energy and the MP convex hull.
    structure_models : bool
        For structure inputs, add rows from the structure models (MEGNet, CGCNN). Their
        uncertainty, where the model has none of its own, is 1.25 × its published MAE
        (the standard deviation of a Laplace error of that MAE), and a warning says so.

    Returns
    -------
    PropertyTable
        One row per input and property (two for energy above hull); inputs that cannot be
        read get one row with ``error`` set instead of raising.
    """
    if isinstance(properties, str):
        properties = [properties]
    props = list(properties or PROPERTIES)
    for p in props:
        if p not in PROPERTIES:
            raise MatfoldInputError(f"unknown property {p!r}; choose from: {', '.join(PROPERTIES)}")
    inputs = _inputs(x)
    ok = [i for i in inputs if i.composition is not None]
    rows = PropertyTable()
    results: dict[str, FormulaPredictions] = {}
    needed = set(props) | ({"formation_energy"} if hull and "e_above_hull" in props else set())
    for prop in needed:
        results[prop] = predict_formulas([i.composition for i in ok], DEFAULT_TASK[prop], backend=backend,
                                         unit="property")
    pos = {id(i): k for k, i in enumerate(ok)}
    bar = _hull_progress(len(ok)) if hull and "e_above_hull" in props else None
    for item in inputs:
        if item.composition is None:
            rows.append(_row(item, None, error=item.error))
            continue
        k = pos[id(item)]
        for prop in props:
            res = results[prop]
            task = DEFAULT_TASK[prop]
            rows.append(_row(item, prop, res.mean[k], res.std[k], f"matfold-compnet/{task}", "composition",
                             item.warnings + res.warnings[k], res.errors[k]))
            if prop == "e_above_hull" and hull:
                rows.append(_hull_row(item, results["formation_energy"], k))
                if bar is not None:
                    bar.update(1)
    if bar is not None:
        bar.close()
    if structure_models:
        _add_structure_rows(rows, [i for i in ok if i.structure is not None], props)
    return rows


def _add_structure_rows(rows: PropertyTable, items: list[_Input], props: Sequence[str]) -> None:
    if not items:
        return
    extra: dict[int, list[dict]] = {id(i): [] for i in items}
    for prop in props:
        for key, _ in STRUCTURE_MODELS.get(prop, []):
            try:
                model = structure_model(prop, key)
                pred = model.predict_batch([i.structure for i in items])
            except MatfoldError as exc:
                for item in items:
                    extra[id(item)].append(_row(item, prop, model=key, source="structure", error=str(exc)))
                continue
            card = model.card
            for k, item in enumerate(items):
                std, warns = float(pred.std[k]), list(pred.warnings[k])
                log_mae = card.extra.get("paper_test_mae") if "log10" in str(card.extra.get("trained_unit")) else None
                if not np.isfinite(std) and card.val_mae:
                    std = 1.25 * card.val_mae
                    warns.append(f"uncertainty is 1.25 × {card.name}'s published MAE ({card.val_mae:g} "
                                 f"{card.unit}), not specific to this structure")
                elif not np.isfinite(std) and log_mae:
                    std = float(np.log(10) * pred.mean[k] * 1.25 * log_mae)
                    warns.append(f"uncertainty from {card.name}'s published MAE of {log_mae:g} log10 units, "
                                 "not specific to this structure")
                row = _row(item, prop, pred.mean[k], std, card.name, "structure", warns)
                row["version"] = card.version
                extra[id(item)].append(row)
    # keep each input's rows together: its structure rows follow its composition rows
    out = PropertyTable()
    by_label = {}
    for r in rows:
        by_label.setdefault(r["input"], []).append(r)
    for item in items:
        by_label.setdefault(item.label, []).extend(extra[id(item)])
    for group in by_label.values():
        out.extend(group)
    rows[:] = out


def _hull_progress(n: int, threshold: int = 200):
    """A progress bar for the convex-hull route (about 30 ms per new chemical system) on long lists."""
    if n < threshold:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=n, desc="energy above hull", unit="formula")


def _row(item: _Input, prop, value=np.nan, std=np.nan, model="", source="", warnings=(), error=""):
    from pymatgen.core import Composition

    return {
        "input": item.label,
        "formula": Composition(item.composition).reduced_formula if item.composition else "",
        "property": prop or "",
        "value": float(value),
        "uncertainty": float(std),
        "unit": PROPERTIES[prop].unit if prop else "",
        "model": model,
        "version": MODEL_VERSION if model else "",
        "source": source,
        "warnings": list(warnings),
        "error": error,
    }


def _hull_row(item: _Input, eform: FormulaPredictions, k: int):
    if eform.errors[k]:
        return _row(item, "e_above_hull", model="convex hull (MP references)", source="convex hull",
                    error=eform.errors[k])
    res = energy_above_hull(item.composition, eform.mean[k])
    warns = list(eform.warnings[k])
    if res.below_hull_by > 0:
        warns.append(f"predicted formation energy is {res.below_hull_by:.3f} eV/atom below the known hull "
                     f"({' + '.join(res.decomposition)}): stable if the prediction holds")
    return _row(item, "e_above_hull", res.e_above_hull, eform.std[k],
                "convex hull of matfold-compnet/matbench_mp_e_form", "convex hull", warns)
