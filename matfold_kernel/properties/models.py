"""Where trained composition models are found, and their model cards.

The ensembles matfold ships live in ``trained/<task>.pt`` beside this module
(made by ``matfold train --task TASK``; see :mod:`.training`). A checkpoint of
your own (``matfold train --task TASK --out my.pt``) is used by passing its path.
"""

from __future__ import annotations

import functools
from collections import Counter
from pathlib import Path

from .. import config
from ..errors import MatfoldDependencyError, MatfoldInputError
from .base import PROPERTIES, ModelCard
from .ensemble import CompositionEnsemble
from .tasks import TASKS, require_task

__all__ = ["shipped_model_path", "load_composition_model", "shipped_input", "composition_card", "MODEL_VERSION"]

_TRAINED = Path(__file__).with_name("trained")
#: Version of the shipped composition models (bumped when they are retrained).
MODEL_VERSION = "2026.12.08"


def shipped_model_path(task: str) -> Path:
    """Path of the shipped ensemble of ``task``."""
    require_task(task)
    return _TRAINED / f"{task}.pt"


@functools.lru_cache(maxsize=32)
def _load(path: str) -> CompositionEnsemble:
    # the loader hands each ensemble the way to the shipped models its trees read
    return CompositionEnsemble.load(path, input_loader=shipped_input)


def shipped_input(task: str, device: str) -> CompositionEnsemble:
    """The shipped ensemble of ``task`` on ``device``: what a model's trees read (an
    ``input_loader`` for :meth:`CompositionEnsemble.load`)."""
    return load_composition_model(task, device=device)


def load_composition_model(task: str, path: str | Path | None = None, device: str | None = None):
    """The :class:`~.ensemble.CompositionEnsemble` of ``task`` (shipped, or the checkpoint at ``path``).

    ``device`` defaults to ``$MATFOLD_DEVICE``, else CUDA when torch sees a GPU, else the CPU.
    The ensemble is given the shipped models its trees read (loaded on first use).
    """
    try:
        import torch  # noqa: F401  (heavy and optional: checked here, imported where it runs)
    except ImportError as exc:
        raise MatfoldDependencyError(
            "property prediction needs PyTorch: pip install 'matfold[ml]' (torch==2.13.0 for the CPU build)"
        ) from exc
    target = Path(path) if path is not None else shipped_model_path(task)
    if not target.is_file():
        raise MatfoldDependencyError(
            f"no composition model for task {task!r} at {target}: run `matfold train --task {task}` "
            "(it needs the task data; see scripts/TRAINING.md) or reinstall matfold"
        )
    try:
        model = _load(str(target.resolve()))
    except (ValueError, RuntimeError, KeyError) as exc:
        raise MatfoldInputError(f"cannot load a composition model: {exc}", str(target)) from exc
    if task != model.task and path is None:
        raise MatfoldInputError(f"holds task {model.task!r}, not {task!r}", str(target))
    device = config.device(device)
    if str(model.device) != device:
        model.to(device)
    return model


def _run_card(run: dict) -> dict:
    """What a model card says of one training run behind an ensemble."""
    # runs from before the loss was recorded all used the Laplace NLL
    card = {k: v for k, v in {"loss": "laplace", **run}.items()
            if k in ("seed", "epochs", "loss", "dropout", "trained_with", "members", "weight", "val_mae")
            and v is not None}
    if run.get("cell_size"):  # the network reads the number of atoms of the formula as written
        card["cell_size"] = True
    if run.get("hull_offset"):  # the network learnt the energy above the training phases' hull
        card["hull_offset"] = True
    if run.get("d_model") not in (None, 128):  # a wider (or narrower) network than the default
        card["d_model"] = run["d_model"]
    if run.get("init_from"):  # transfer: the network started from another task's model
        card["init_from"] = run["init_from"].get("task")
    return card


def _members_size(sizes: list[int]) -> str:
    """``"12 members × 551 k parameters"``, or per width: ``"8 members (6 × 551 k, 2 × 2050 k parameters)"``."""
    counts = Counter(sizes)
    if len(counts) == 1:
        return f"{len(sizes)} members × {sizes[0] / 1e3:.0f} k parameters"
    parts = ", ".join(f"{k} × {n / 1e3:.0f} k" for n, k in sorted(counts.items()))
    return f"{len(sizes)} members ({parts} parameters)"


def composition_card(model) -> ModelCard:
    """The model card of a loaded composition ensemble."""
    task = TASKS[model.task]
    sizes = [sum(p.numel() for p in member.parameters()) for member in model.module.members]
    m = model.metrics
    prop = PROPERTIES[task.property]
    trees = m.get("trees") if getattr(model, "trees", None) is not None else None
    return ModelCard(
        name=f"matfold-compnet/{task.name}",
        version=MODEL_VERSION,
        property=task.property,
        unit=task.unit,
        input="composition",
        training_data=f"{task.source}: {m.get('n_train', '?')} formulas ({task.name}/train.csv)",
        size=_members_size(sizes)
             + (f" + {len(model.trees)} regression trees" if trees else ""),
        val_mae=m.get("val_mae"),
        licence="BSD-3-Clause (matfold); training data CC BY 4.0",
        reference="attention over element embeddings (CrabNet/Roost style); mat2vec element vectors (MIT)",
        notes=(
            f"{prop.label}; val MAE {m.get('val_mae', float('nan')):.4g} {task.unit} on {m.get('n_val', '?')} "
            f"formulas against CrabNet's published test MAE {task.crabnet_mae}. Uncertainty calibrated on val: "
            f"{m.get('val_within_1sigma', float('nan')):.0%} of errors within 1σ, "
            f"{m.get('val_within_2sigma', float('nan')):.0%} within 2σ. The value is the "
            + ("median of the members' predictive mixture (lower val MAE than its mean, "
               f"{m.get('val_mae_mean', float('nan')):.4g})." if getattr(model, "point", "mean") == "median"
               else "mean of the members' predictions.")
            + (" Some members read the number of atoms of the formula as written, a hint of the "
               "polymorph: give the formula of the unit cell (Li4Fe4P4O16 for olivine LiFePO4) when "
               "you know it." if getattr(model, "takes_amounts", False) else "")
            + (f" Some members learnt the formation energy above the convex hull of the {len(model.hull)} "
               "training phases (lowest energy per composition); the model adds that hull energy back, so "
               "they know what the training set knows of a chemical system." if getattr(model, "hull", None)
               is not None else "")
            + (f" Blended with gradient-boosted trees on elemental-property statistics"
               + "".join(f" and the {r['task']} model's prediction" for r in model.tree_inputs)
               + f" (weight "
               f"{model.tree_weight:g}; the trees alone: val MAE {trees['val_mae_trees']:.4g}, the networks "
               f"alone {trees['val_mae_networks']:.4g}); the uncertainty is the networks' spread." if trees else "")
        ),
        extra={"task": task.name, "epochs": m.get("epochs"), "seed": m.get("seed"),
               "point": getattr(model, "point", "mean"),
               **({"trees": {**{k: trees[k] for k in ("weight", "n_trees", "seed")},
                            **({"inputs": [r["task"] for r in model.tree_inputs]} if model.tree_inputs else {})}}
                  if trees else {}),
               "runs": [_run_card(r) for r in m.get("merged_from", [m])]},
    )
