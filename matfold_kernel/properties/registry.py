"""Which structure models answer for which property when ``predict`` is given a structure.

Only models verified against published values are listed (see ``DESIGN.md``):
MEGNet formation energy (matgl, with the destination-node edge average its weights
were trained with) and the CGCNN formation energy, band gap, bulk and shear moduli.
The MEGNet multi-fidelity band gap is left out: it fails verification on oxides.
"""

from __future__ import annotations

import functools
from typing import Callable

from .cgcnn import load_cgcnn
from .megnet import load_megnet

__all__ = ["STRUCTURE_MODELS", "structure_model"]


def _megnet(prop: str):
    return load_megnet(prop)


def _cgcnn(prop: str):
    return load_cgcnn(prop)


#: property → [(model key, loader)] in display order.
STRUCTURE_MODELS: dict[str, list[tuple[str, Callable]]] = {
    "formation_energy": [("megnet", _megnet), ("cgcnn", _cgcnn)],
    "band_gap": [("cgcnn", _cgcnn)],
    "bulk_modulus": [("cgcnn", _cgcnn)],
    "shear_modulus": [("cgcnn", _cgcnn)],
}


@functools.lru_cache(maxsize=16)
def structure_model(prop: str, key: str):
    """The loaded structure model ``key`` of property ``prop`` (cached per process)."""
    loader = dict(STRUCTURE_MODELS[prop])[key]
    return loader(prop)
