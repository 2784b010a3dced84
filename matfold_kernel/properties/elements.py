"""Elemental properties used to describe a composition.

The table is generated once from pymatgen's periodic-table data by
:func:`build_element_table` and committed as ``data/elements.json``, so that a
model's features do not drift when pymatgen updates its data. Missing values
(e.g. no electron affinity for noble gases) are stored as ``null`` and filled with
the mean over known elements when the table is loaded.
"""

from __future__ import annotations

import functools
import json
import warnings
from pathlib import Path

import numpy as np

from .composition import ELEMENTS

__all__ = ["ELEMENT_PROPERTIES", "element_table", "build_element_table"]

_TABLE = Path(__file__).with_name("data") / "elements.json"

#: (name, unit) of each elemental property, in the column order of :func:`element_table`.
ELEMENT_PROPERTIES = (
    ("Z", ""), ("row", ""), ("group", ""), ("mendeleev_no", ""), ("atomic_mass", "amu"),
    ("X", "Pauling"), ("atomic_radius", "Å"), ("atomic_radius_calculated", "Å"),
    ("van_der_waals_radius", "Å"), ("average_ionic_radius", "Å"), ("melting_point", "K"),
    ("boiling_point", "K"), ("molar_volume", "cm³/mol"), ("density_of_solid", "kg/m³"),
    ("electron_affinity", "eV"), ("ionization_energy", "eV"), ("thermal_conductivity", "W/(m K)"),
    ("n_s", "valence s electrons"), ("n_p", "valence p electrons"), ("n_d", "valence d electrons"),
    ("n_f", "valence f electrons"), ("n_valence", "valence electrons"), ("is_metal", ""),
    ("block", "s=0 p=1 d=2 f=3"),
)


def build_element_table() -> dict[str, list[float | None]]:
    """Read the properties of H..Pu from pymatgen (used to regenerate ``elements.json``)."""
    from pymatgen.core.periodic_table import Element

    table = {}
    for sym in ELEMENTS:
        el = Element(sym)
        row: list[float | None] = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            valence = _valence_electrons(el)
            for name, _ in ELEMENT_PROPERTIES:
                if name in ("n_s", "n_p", "n_d", "n_f"):
                    row.append(float(valence[name[-1]]))
                elif name == "n_valence":
                    row.append(float(sum(valence.values())))
                elif name == "is_metal":
                    row.append(float(el.is_metal))
                elif name == "block":
                    row.append(float("spdf".index(el.block)))
                else:
                    try:
                        value = getattr(el, name)
                        row.append(None if value is None else float(value))
                    except Exception:
                        row.append(None)
        table[sym] = row
    return table


def _valence_electrons(el) -> dict[str, int]:
    """Electrons outside the last noble-gas core, by orbital letter (s, p, d, f).

    Filled d and f shells of the row below the valence shell count as core for
    p-block elements (Ga has 2 s and 1 p valence electrons, not 10 d).
    """
    shells = el.full_electronic_structure
    counts = {"s": 0, "p": 0, "d": 0, "f": 0}
    n_max = max(n for n, _, _ in shells)
    for n, letter, count in shells:
        is_valence = n == n_max or (letter == "d" and n == n_max - 1 and count < 10) or (
            letter == "f" and n == n_max - 2 and count < 14
        )
        if is_valence:
            counts[letter] += count
    return counts


@functools.lru_cache(maxsize=1)
def element_table() -> np.ndarray:
    """The element table as a float64 array of shape (94, n_properties), gaps filled."""
    raw = json.loads(_TABLE.read_text())
    arr = np.array([[np.nan if v is None else v for v in raw[s]] for s in ELEMENTS], dtype=np.float64)
    means = np.nanmean(arr, axis=0)
    holes = np.isnan(arr)
    arr[holes] = np.take(means, np.nonzero(holes)[1])
    return arr


if __name__ == "__main__":  # python -m matfold_kernel.properties.elements > data/elements.json
    print(json.dumps(build_element_table(), indent=0))


@functools.lru_cache(maxsize=1)
def element_embedding() -> np.ndarray:
    """Mat2vec word embeddings of the elements (Tshitoyan et al., Nature 571, 95 (2019)).

    Shape (94, 200), float32. Copied from the ``matscholar200.json`` that aviary
    (MIT licence, github.com/CompRhys/aviary) and CrabNet use as element features;
    the text-mined vectors carry chemical similarity that the tabulated properties
    miss.
    """
    raw = json.loads((_TABLE.parent / "matscholar200.json").read_text())
    return np.array([raw[s] for s in ELEMENTS], dtype=np.float32)
