"""Crystal property prediction: six properties with uncertainty, from formulas or structures.

:func:`predict` is the entry point. Composition ensembles (:mod:`.compnet`, trained
by :mod:`.training` on the eleven tasks of :mod:`.tasks`) answer for any formula;
energy above hull also comes from the MP convex hull (:mod:`.hull`). Models export
to ONNX (:mod:`.onnx_compnet`). Heavy dependencies (torch, pymatgen's phase
diagrams, onnxruntime) load on first use.
"""

from .base import PROPERTIES, ModelCard, Prediction, Property, PropertyModel
from .composition import ELEMENTS, fractions, parse_formula, reduced_formula
from .formation_hull import FormationHull
from .hull import HullResult, energy_above_hull
from .models import composition_card, load_composition_model, shipped_model_path
from .predict import FormulaPredictions, PropertyTable, predict, predict_formulas
from .tasks import DEFAULT_TASK, TASKS, Task, require_task
from .weights import fetch_weights, model_dir, seed_cache

__all__ = [
    "DEFAULT_TASK",
    "ELEMENTS",
    "FormationHull",
    "FormulaPredictions",
    "HullResult",
    "ModelCard",
    "PROPERTIES",
    "Prediction",
    "Property",
    "PropertyModel",
    "PropertyTable",
    "TASKS",
    "Task",
    "composition_card",
    "energy_above_hull",
    "fetch_weights",
    "fractions",
    "load_composition_model",
    "model_dir",
    "parse_formula",
    "predict",
    "predict_formulas",
    "reduced_formula",
    "require_task",
    "seed_cache",
    "shipped_model_path",
]
