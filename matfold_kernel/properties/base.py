"""What every property model looks like to :func:`matfold_kernel.predict`.

A model predicts one property for a batch of inputs (compositions or pymatgen
structures) and returns a mean and, where it has one, a standard deviation, in the
property's unit. Its :class:`ModelCard` says what it was trained on and how well it
does.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

__all__ = ["PROPERTIES", "Property", "ModelCard", "PropertyModel", "Prediction"]


@dataclass(frozen=True)
class Property:
    """A predicted property: its key, a human label and its unit."""

    key: str
    label: str
    unit: str


#: The six properties matfold predicts, in display order.
PROPERTIES: dict[str, Property] = {
    p.key: p
    for p in [
        Property("formation_energy", "Formation energy", "eV/atom"),
        Property("band_gap", "Band gap", "eV"),
        Property("bulk_modulus", "Bulk modulus", "GPa"),
        Property("shear_modulus", "Shear modulus", "GPa"),
        Property("debye_temperature", "Debye temperature", "K"),
        Property("e_above_hull", "Energy above hull", "eV/atom"),
    ]
}


@dataclass
class ModelCard:
    """What a user should know about a model before trusting its numbers."""

    name: str
    version: str
    property: str
    unit: str
    input: str  # "composition" or "structure"
    training_data: str
    size: str = ""
    val_mae: float | None = None
    licence: str = ""
    reference: str = ""
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class Prediction:
    """Predictions of one model for a batch: mean and std (NaN where unknown), per input."""

    mean: np.ndarray
    std: np.ndarray
    warnings: list[list[str]]


class PropertyModel(ABC):
    """A model of one property. Subclasses set :attr:`card` and implement :meth:`predict_batch`."""

    card: ModelCard

    @abstractmethod
    def predict_batch(self, inputs: Sequence[Any]) -> Prediction:
        """Predict for a batch of inputs (compositions as dicts/formulas, or pymatgen Structures)."""
