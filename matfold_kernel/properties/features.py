"""Composition descriptors: what a formula looks like to the composition models.

For a formula with atomic fractions f_i of elements with property values p_i the
descriptor holds, for every elemental property of :mod:`.elements`: the
fraction-weighted mean, the weighted mean absolute deviation, the minimum, the
maximum and the range; then the fraction vector over H..Pu, the number of
elements and the L2, L3, L5, L7 and L10 norms of the fractions (Ward et al.,
npj Comput. Mater. 2, 16028 (2016), "Magpie"). All in float32.
"""

from __future__ import annotations

from typing import Iterable, Mapping

import numpy as np

from .composition import ELEMENTS, MAX_Z, fractions
from .elements import ELEMENT_PROPERTIES, element_table

__all__ = ["composition_matrix", "describe", "feature_names", "N_FEATURES"]

_INDEX = {s: i for i, s in enumerate(ELEMENTS)}
_STATS = ("mean", "mad", "min", "max", "range")
_NORMS = (2, 3, 5, 7, 10)


def feature_names() -> list[str]:
    """Names of the descriptor columns, in order."""
    names = [f"{stat}_{prop}" for prop, _ in ELEMENT_PROPERTIES for stat in _STATS]
    names += [f"frac_{s}" for s in ELEMENTS]
    names += ["n_elements"] + [f"norm_{p}" for p in _NORMS]
    return names


N_FEATURES = len(feature_names())


def composition_matrix(compositions: Iterable[Mapping[str, float] | str]) -> np.ndarray:
    """Fraction matrix of shape (n, 94): row i holds the atomic fractions of input i."""
    comps = list(compositions)
    out = np.zeros((len(comps), MAX_Z), dtype=np.float64)
    for row, comp in enumerate(comps):
        for sym, frac in fractions(comp).items():
            out[row, _INDEX[sym]] += frac
    return out


def describe(compositions: Iterable[Mapping[str, float] | str] | np.ndarray) -> np.ndarray:
    """Descriptor matrix of shape (n, N_FEATURES) for formulas, mappings or a fraction matrix."""
    frac = compositions if isinstance(compositions, np.ndarray) else composition_matrix(compositions)
    table = element_table()  # (94, P)
    present = frac > 0
    mean = frac @ table  # (n, P)
    # weighted mean absolute deviation: sum_i f_i |p_i - mean|
    mad = np.einsum("ne,nep->np", frac, np.abs(table[None, :, :] - mean[:, None, :]))
    big = np.where(present[:, :, None], table[None, :, :], np.inf)
    low = big.min(axis=1)
    high = np.where(present[:, :, None], table[None, :, :], -np.inf).max(axis=1)
    stats = np.stack([mean, mad, low, high, high - low], axis=2).reshape(len(frac), -1)
    n_el = present.sum(axis=1, keepdims=True).astype(np.float64)
    norms = np.stack([(frac**p).sum(axis=1) ** (1.0 / p) for p in _NORMS], axis=1)
    return np.concatenate([stats, frac, n_el, norms], axis=1).astype(np.float32)
