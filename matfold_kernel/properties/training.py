"""Training the composition ensembles (``matfold train --task TASK``).

One run per task: AdamW with a one-cycle warm-up and cosine decay over 70 % of the
epochs, then five short cycles whose ends are kept as the ensemble members (fast
geometric ensembling, Garipov et al., NeurIPS 2018). The loss is the Laplace
negative log-likelihood of the standardised target, so each member also predicts
an aleatoric scale. Validation data choose nothing but the uncertainty calibration
factor; they are reported, never trained on. Everything is seeded.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..errors import MatfoldDependencyError, MatfoldInputError
from .compnet import CompNet, CompNetConfig, encode_compositions
from .composition import parse_formula
from .ensemble import CompositionEnsemble, laplace_mixture_median
from .formation_hull import FormationHull
from .models import load_composition_model, shipped_input
from .tasks import TASKS, require_task
from .trees import TreeEnsemble, composition_descriptor

__all__ = ["TrainingPlan", "plan_for", "load_task_csv", "train_task", "train_joint", "select_runs", "run_outputs",
           "run_parts", "part_outputs", "RunPart", "RunOutputs", "greedy_mae", "greedy_selection", "merge_runs",
           "element_counts"]


@dataclass
class TrainingPlan:
    """How long and how wide a task is trained."""

    epochs: int
    batch_size: int
    members: int = 5
    lr: float = 1e-3
    weight_decay: float = 1e-4
    seed: int = 20261122
    config: CompNetConfig | None = None
    #: ``"l1"``: the mean follows the L1 loss and the scale head a Laplace NLL of the detached
    #: residual; ``"laplace"``: one Laplace NLL for both (the 2026-11 first release; it underfits
    #: large tasks because hard samples get a wide scale and a small gradient).
    loss: str = "l1"
    #: ``"width"``: each batch holds formulas with the same number of elements, so no padding is
    #: computed (about 2x faster); ``"random"``: plain shuffled batches (the first release).
    batching: str = "width"
    #: a checkpoint of another task whose last member starts the network (transfer learning);
    #: the output layer starts fresh when its shape differs
    init_from: str | None = None


def plan_for(n_train: int, budget: int = 800_000) -> TrainingPlan:
    """A plan that sees about ``budget`` training samples in all (at least 20, at most 300 epochs)."""
    epochs = int(min(300, max(20, budget // max(n_train, 1))))
    batch = 128 if n_train < 10_000 else 256
    return TrainingPlan(epochs=epochs, batch_size=batch)


def _batches(width: np.ndarray, batch_size: int, batching: str, rng) -> list[np.ndarray]:
    """One epoch's batches of row indices, in random order."""
    if batching == "random":
        order = rng.permutation(len(width))
        return [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
    if batching != "width":
        raise MatfoldInputError(f"unknown batching {batching!r}; use 'width' or 'random'")
    blocks = []
    for n in np.unique(width):
        rows = rng.permutation(np.flatnonzero(width == n))
        blocks += [rows[s:s + batch_size] for s in range(0, len(rows), batch_size)]
    return [blocks[k] for k in rng.permutation(len(blocks))]


def _loss(out, target, kind: str):
    """Training loss of the network output ``(mean, log scale)`` against the standardised target."""
    import torch

    mu, log_b = out[:, 0], out[:, 1].clamp(-7, 5)
    resid = torch.abs(mu - target)
    if kind == "laplace":
        return (resid * torch.exp(-log_b) + log_b).mean()
    if kind == "l1":
        return resid.mean() + (resid.detach() * torch.exp(-log_b) + log_b).mean()
    raise MatfoldInputError(f"unknown loss {kind!r}; use 'l1' or 'laplace'")


def load_task_csv(path: str | Path):
    """Read a ``formula,target`` CSV. Formulas stay strings (``NaN`` is sodium nitride)."""
    import pandas as pd

    frame = pd.read_csv(path, keep_default_na=False, dtype={"formula": str})
    missing = {"formula", "target"} - set(frame.columns)
    if missing:
        raise MatfoldInputError(f"missing column(s) {sorted(missing)}; the file needs formula,target", str(path))
    frame["target"] = frame["target"].astype(float)
    return frame


def _cycle_epochs(epochs: int, members: int) -> int:
    """Length in epochs of each snapshot cycle: 30 % of the run shared among the members."""
    return max(1, round(0.3 * epochs / members))


def _schedule(epochs: int, members: int, lr: float) -> Callable[[float], float]:
    """Learning rate at fractional epoch ``e``: warm-up, cosine to 5 %, then ``members`` cycles."""
    cycle = _cycle_epochs(epochs, members)
    main = max(epochs - cycle * members, 1)
    warm = max(0.05 * main, 0.5)

    def at(e: float) -> float:
        if e < warm:
            return lr * (0.1 + 0.9 * e / warm)
        if e < main:
            return lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (e - warm) / (main - warm))))
        pos = ((e - main) % cycle) / cycle
        return lr * (0.02 + 0.28 * 0.5 * (1 + math.cos(math.pi * pos)))

    return at


def train_task(
    task: str,
    data_dir: str | Path,
    out: str | Path | None = None,
    *,
    plan: TrainingPlan | None = None,
    threads: int = 1,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict:
    """Train the ensemble of ``task`` from ``data_dir/<task>/{train,val}.csv``.

    Returns the checkpoint (also saved to ``out`` when given) with the members'
    weights in float16, the target scaling, the val MAE of the ensemble and of
    each member, and the uncertainty calibration on val.
    """
    outs = None if out is None else {task: out}
    return train_joint([task], data_dir, outs, plan=plan, threads=threads, progress=progress, log=log)[task]


def train_joint(
    tasks: Sequence[str],
    data_dir: str | Path,
    outs: Mapping[str, str | Path] | None = None,
    *,
    plan: TrainingPlan | None = None,
    threads: int = 1,
    progress: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, dict]:
    """Train one network on several tasks that share their training formulas; one ensemble per task.

    The tasks must have the same ``train.csv`` formulas in the same order (the three
    AFLOW elastic tasks; ``matbench_log_kvrh`` and ``matbench_log_gvrh``), so no val
    or test formula of one task is trained on through another. The network has one
    (mean, log scale) output pair per task; each task's checkpoint keeps its own pair,
    so it is an ordinary single-task model. Returns ``{task: checkpoint}``.
    """
    import torch

    tasks = list(tasks)
    for task in tasks:
        require_task(task)
    if len(set(tasks)) != len(tasks) or not tasks:
        raise MatfoldInputError(f"name each task once: {tasks}")
    torch.set_num_threads(threads)
    trains = [load_task_csv(Path(data_dir) / t / "train.csv") for t in tasks]
    vals = [load_task_csv(Path(data_dir) / t / "val.csv") for t in tasks]
    for task, frame in zip(tasks[1:], trains[1:]):
        if list(frame.formula) != list(trains[0].formula):
            raise MatfoldInputError(
                f"{task} and {tasks[0]} do not share their training formulas; joint training would let "
                "one task see the other's val or test formulas. Train them separately.")
    plan = plan or plan_for(len(trains[0]))
    cfg = plan.config or CompNetConfig()
    torch.manual_seed(plan.seed)
    rng = np.random.default_rng(plan.seed)

    idx, frac = encode_compositions(trains[0].formula, amounts=cfg.cell_size)
    ys = np.stack([t.target.to_numpy(np.float32) for t in trains], axis=1)
    hull = None
    if cfg.hull_offset:  # the target is the energy above the hull, scaled by its own mean and std
        hull, offsets = _hull_offsets(tasks, trains[0], log)
        ys = (trains[0].target.to_numpy(np.float64) - offsets).astype(np.float32)[:, None]
    # column by column, as a single-task run computes them, so runs of either kind can be merged
    means = np.array([float(np.ascontiguousarray(ys[:, k]).mean()) for k in range(len(tasks))])
    stds = np.array([float(np.ascontiguousarray(ys[:, k]).std()) for k in range(len(tasks))])
    idx_t, frac_t = torch.from_numpy(idx), torch.from_numpy(frac)
    y_t = torch.from_numpy((ys - means.astype(np.float32)) / stds.astype(np.float32))  # float32 throughout
    model = CompNet(cfg)
    if len(tasks) > 1:
        model.head[-1] = torch.nn.Linear(cfg.d_model, 2 * len(tasks))
    started_from = None
    if plan.init_from:
        start = torch.load(plan.init_from, map_location="cpu", weights_only=False)
        start_cfg = CompNetConfig(**start["config"])
        # a start without the cell-size input still gives every other weight
        if dataclasses.replace(start_cfg, dropout=cfg.dropout, cell_size=cfg.cell_size,
                               hull_offset=cfg.hull_offset) != cfg:
            raise MatfoldInputError(f"init_from {plan.init_from}: its network has another size ({start_cfg})")
        own = model.state_dict()
        weights = {k: v.float() for k, v in start["members"][-1].items() if k in own and v.shape == own[k].shape}
        model.load_state_dict(weights, strict=False)
        started_from = {"task": start.get("task"), "val_mae": start.get("metrics", {}).get("val_mae"),
                        "fresh": sorted(set(own) - set(weights))}
    opt = torch.optim.AdamW(model.parameters(), lr=plan.lr, weight_decay=plan.weight_decay)
    lr_at = _schedule(plan.epochs, plan.members, plan.lr)
    width = (idx > 0).sum(axis=1)
    cycle = _cycle_epochs(plan.epochs, plan.members)
    snapshot_at = {plan.epochs - cycle * k for k in range(plan.members)}
    members: list[dict] = []
    bar = _bar(plan.epochs, f"train {'+'.join(tasks)}", progress)
    started = time.perf_counter()
    for epoch in range(plan.epochs):
        model.train()
        batches = _batches(width, plan.batch_size, plan.batching, rng)
        for s, rows in enumerate(batches):
            for group in opt.param_groups:
                group["lr"] = lr_at(epoch + s / len(batches))
            j = torch.from_numpy(rows)
            # width batches drop the padding; random ones keep it, as the first release did
            n = int(width[rows].max()) if plan.batching == "width" else idx.shape[1]
            out_ = model(idx_t[j, :n], frac_t[j, :n])
            loss = sum(_loss(out_[:, 2 * k:2 * k + 2], y_t[j, k], plan.loss) for k in range(len(tasks)))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        if epoch + 1 in snapshot_at and len(members) < plan.members:
            members.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        bar.update(1)
    bar.close()
    elapsed = time.perf_counter() - started

    last = [k for k in members[0] if k.startswith("head.")][-2:]  # the output layer's weight and bias
    checkpoints = {}
    for k, task in enumerate(tasks):
        states = [{name: (v[2 * k:2 * k + 2] if name in last else v) for name, v in m.items()} for m in members]
        ens = CompositionEnsemble.from_members(task, cfg, states, means[k], stds[k], hull=hull)
        run = {"epochs": plan.epochs, "batch_size": plan.batch_size, "seed": plan.seed, "lr": plan.lr,
               "loss": plan.loss, "batching": plan.batching, "train_seconds": round(elapsed, 1)}
        if len(tasks) > 1:
            run["trained_with"] = [t for t in tasks if t != task]
        if started_from:
            run["init_from"] = started_from
        checkpoints[task] = _calibrate(ens, trains[k], vals[k], run, log)
        if outs is not None and task in outs:
            _save(checkpoints[task], outs[task])
    return checkpoints


#: tasks whose target is a formation energy (eV/atom), where a network may learn the energy above the hull
HULL_TASKS = ("matbench_mp_e_form",)


def _hull_offsets(tasks: Sequence[str], train, log: Callable[[str], None]):
    """The hull of ``train``'s phases and, per row, the hull energy from every other row (eV/atom)."""
    if len(tasks) != 1 or tasks[0] not in HULL_TASKS:
        raise MatfoldInputError(f"--hull-offset: the energy above the hull is defined for a formation energy; "
                                f"train one of {', '.join(HULL_TASKS)} alone, not {', '.join(tasks)}")
    start = time.perf_counter()
    hull = FormationHull(list(train.formula), train.target.to_numpy(np.float64))
    offsets = hull.leave_one_out()
    log(f"{tasks[0]}: hull of {len(hull)} training phases; leave-one-out hull energies in "
        f"{time.perf_counter() - start:.0f} s (mean {offsets.mean():.3f} eV/atom)")
    return hull, offsets


def _save(checkpoint: dict, out: str | Path) -> None:
    import torch

    Path(out).parent.mkdir(parents=True, exist_ok=True)
    torch.save(checkpoint, out)


def _calibrate(ens, train, val, run: dict, log: Callable[[str], None], pred=None) -> dict:
    """Val MAE, the point estimate, the 1σ calibration factor and the domain of ``ens``; its checkpoint.

    The point estimate (the mixture's median or mean) is the one with the lower val MAE;
    with trees, after blending. ``pred``: the ensemble's val prediction when the caller
    has it already.
    """
    if pred is None:
        pred = ens.predict_arrays(*ens.encode(val.formula))
    truth = val.target.to_numpy(np.float64)
    by_point = {"median": np.abs(ens.blend(pred.median, pred) - truth),
                "mean": np.abs(ens.blend(pred.mean, pred) - truth)}
    point = min(by_point, key=lambda p: by_point[p].mean())
    err = by_point[point]
    member_mae = [float(np.abs(pred.members[:, k] - truth).mean()) for k in range(pred.members.shape[1])]
    z = err / np.maximum(pred.raw_std, 1e-12)
    # one factor so that 68.3 % of val errors fall within 1 sigma
    scale = float(np.quantile(z, 0.6827))
    within1 = float(np.mean(err <= scale * pred.raw_std))
    within2 = float(np.mean(err <= 2 * scale * pred.raw_std))
    idx, _ = encode_compositions(train.formula)
    checkpoint = ens.checkpoint(
        calibration=scale,
        point=point,
        metrics={
            "val_mae": float(err.mean()),
            "val_mae_mean": float(by_point["mean"].mean()),
            "val_mae_median": float(by_point["median"].mean()),
            "point": point,
            "member_val_mae": member_mae,
            "val_within_1sigma": within1,
            "val_within_2sigma": within2,
            "val_within_1sigma_uncalibrated": float(np.mean(z <= 1)),
            "n_train": len(train),
            "n_val": len(val),
            **run,
            "element_counts": element_counts(train.formula),
            "max_elements": int((idx > 0).sum(axis=1).max()),
        },
    )
    log(
        f"{ens.task}: val MAE {err.mean():.4g} (CrabNet test {TASKS[ens.task].crabnet_mae}; mixture {point}, "
        f"mean {by_point['mean'].mean():.4g}, median {by_point['median'].mean():.4g}); "
        f"{len(member_mae)} members " + ", ".join(f"{m:.4g}" for m in member_mae)
        + f"; within 1σ {within1:.3f}, 2σ {within2:.3f}"
        + (f"; {run['train_seconds']:.0f} s" if "train_seconds" in run else "")
    )
    return checkpoint


def merge_runs(task: str, data_dir: str | Path, checkpoints, out: str | Path | None = None,
               log: Callable[[str], None] = print, keep: int | None = None, min_members: int = 5,
               parts: Sequence["RunPart"] | None = None) -> dict:
    """One ensemble from the members of several runs of ``task`` (e.g. two seeds), recalibrated on val.

    Independent runs disagree more than the snapshots of one run, so their union is a
    better ensemble. All runs must share the task and the training data.
    ``keep`` keeps only the last ``keep`` members of each single run (checkpoints that
    are already merges keep all theirs): snapshots of one run are so alike that two of
    them do about as well as five, and the file stays small. When the runs would then give
    fewer than ``min_members`` members, each single run keeps one snapshot more until they
    do (or until every snapshot is kept): an ensemble of fewer has too little spread.
    ``parts``: the runs to merge as :func:`select_runs` chose them (with their weights);
    then ``checkpoints`` is not read.
    """
    if parts is None:
        parts = run_parts(task, checkpoints, keep)
    parts = list(parts)
    if keep is not None:
        grown = keep
        most = max(len(p.ensemble.module.members) for p in parts)
        while grown < most and sum(p.kept(grown).size for p in parts) < min_members:
            grown += 1
        if grown != keep:
            log(f"{task}: keeping the last {grown} snapshots of each run (not {keep}) for at least "
                f"{min_members} members")
            parts = [p.kept(grown) for p in parts]

    first = parts[0].ensemble
    states = [m.state_dict() for p in parts for m in list(p.ensemble.module.members)[p.members]]
    configs = [c for p in parts for c in p.ensemble.member_configs[p.members]]
    weights = np.concatenate([p.count * p.member_weights() for p in parts])
    hulls = [p.ensemble.hull for p in parts if p.ensemble.hull is not None and p.ensemble.hull_offset[p.members].any()]
    if any(h.formulas != hulls[0].formulas or not np.array_equal(h.energies, hulls[0].energies) for h in hulls):
        raise MatfoldInputError(f"cannot merge {task} runs whose hulls come from different training phases")
    scaling = np.concatenate([np.stack(p.ensemble.scaling(), axis=1)[p.members] for p in parts])
    merged = CompositionEnsemble(task, first.config, states, first.target_mean, first.target_std,
                                 member_configs=configs, member_weights=weights, hull=hulls[0] if hulls else None,
                                 member_scaling=scaling)
    folder = Path(data_dir) / task
    sources, seeds = [], []
    for p in parts:  # flatten earlier merges so the record lists every run
        for record in p.records():
            sources.append(record)
            seeds.append(record.get("seed"))
    run = {"merged_from": sources, "seed": seeds, "epochs": first.metrics.get("epochs")}
    checkpoint = _calibrate(merged, load_task_csv(folder / "train.csv"), load_task_csv(folder / "val.csv"),
                            run, log)
    if out is not None:
        _save(checkpoint, out)
    return checkpoint


#: LightGBM settings of the trees (`matfold blend-trees`): an L1 fit, like the networks'
TREE_PARAMS = dict(objective="l1", learning_rate=0.05, num_leaves=63, min_data_in_leaf=10, feature_fraction=0.5,
                   bagging_fraction=0.8, bagging_freq=1, lambda_l2=1.0, verbose=-1)

#: the blend weights tried on val
TREE_WEIGHTS = tuple(round(0.05 * k, 2) for k in range(11))


def fit_trees(task: str, train, seed: int = 1, threads: int = 1, max_trees: int = 20_000, patience: int = 200,
              params: dict | None = None, log: Callable[[str], None] = print, features: np.ndarray | None = None):
    """Gradient-boosted trees for ``task`` on the composition descriptor of ``train``
    (or on ``features``, one row per training row, when given).

    Early stopping watches a random 10 % of *train* (val stays for the blend weight);
    returns a :class:`~.trees.TreeEnsemble` and the LightGBM booster.
    """
    try:
        import lightgbm as lgb
    except ImportError:
        raise MatfoldDependencyError("fitting trees needs LightGBM: pip install 'matfold[train]'") from None

    if features is None:
        features = composition_descriptor(*encode_compositions(train.formula))
    x = np.asarray(features, np.float64)
    y = train.target.to_numpy(np.float64)
    order = np.random.default_rng(seed).permutation(len(x))
    cut = int(0.9 * len(x))
    fit, stop = order[:cut], order[cut:]
    start = time.time()
    booster = lgb.train({**TREE_PARAMS, **(params or {}), "seed": seed, "num_threads": threads},
                        lgb.Dataset(x[fit], y[fit]), max_trees, valid_sets=[lgb.Dataset(x[stop], y[stop])],
                        callbacks=[lgb.early_stopping(patience, verbose=False)])
    trees = TreeEnsemble.from_lightgbm(booster, num_iteration=booster.best_iteration)
    log(f"{task}: {len(trees)} trees (depth {trees.depth}, {len(trees.feature)} nodes) in {time.time() - start:.0f} s")
    return trees, booster


def blend_trees(task: str, data_dir: str | Path, model: str | Path, out: str | Path | None = None,
                seed: int = 1, threads: int = 1, log: Callable[[str], None] = print,
                inputs: Sequence[str] = ()) -> dict:
    """Add trees to the ensemble ``model`` with the blend weight of lowest val MAE; recalibrate.

    The weight is chosen from :data:`TREE_WEIGHTS` for the point estimate the ensemble
    reports; with weight 0 the ensemble is written without trees. ``inputs``: tasks whose
    shipped ensembles' predictions the trees read besides the descriptor (for every
    training row too: those ensembles never saw this task's targets).
    """
    ens = CompositionEnsemble.load(model, input_loader=shipped_input)
    if ens.task != task:
        raise MatfoldInputError(f"{model} is a {ens.task} model, not {task}")
    refs = []
    for other in inputs:
        require_task(other)
        if other == task:
            raise MatfoldInputError(f"the trees of {task} cannot read {task}'s own predictions: "
                                    "name another task in --tree-inputs")
        source = load_composition_model(other)
        if source.tree_inputs:
            raise MatfoldInputError(f"the {other} model's own trees read other models "
                                    f"({', '.join(r['task'] for r in source.tree_inputs)}): name a model without")
        if source.takes_amounts and not ens.takes_amounts:
            raise MatfoldInputError(f"the {other} model reads the number of atoms of the formula as written, but "
                                    f"this {task} ensemble keeps only fractions: blend into an ensemble with "
                                    "cell-size members (`matfold train --cell-size`)")
        refs.append({"task": other, "sha256": source.source_hash()})
    folder = Path(data_dir) / task
    train, val = load_task_csv(folder / "train.csv"), load_task_csv(folder / "val.csv")
    ens.trees, ens.tree_weight, ens.tree_inputs = None, 1.0, refs
    trees, _ = fit_trees(task, train, seed=seed, threads=threads, log=log,
                         features=ens.tree_features(*ens.encode(train.formula)))
    ens.trees = trees
    pred = ens.predict_arrays(*ens.encode(val.formula))
    truth = val.target.to_numpy(np.float64)
    nets = pred.median if ens.point == "median" else pred.mean
    mae = {w: float(np.abs(ens.blend(nets, pred, w) - truth).mean()) for w in TREE_WEIGHTS}
    weight = min(mae, key=mae.get)
    log(f"{task}: val MAE by tree weight " + ", ".join(f"{w:g}: {m:.4g}" for w, m in mae.items()))
    tree_mae = float(np.abs(pred.trees - truth).mean())
    if weight == 0.0:
        ens.trees = pred.trees = None
        ens.tree_inputs = []
    ens.tree_weight = weight
    computed = {"point", "member_val_mae", "n_train", "n_val", "element_counts", "max_elements"}
    run = {k: v for k, v in ens.metrics.items() if not k.startswith("val_") and k not in computed}
    run["trees"] = {"weight": weight, "n_trees": len(trees), "seed": seed, "params": TREE_PARAMS,
                    **({"inputs": [r["task"] for r in refs]} if refs else {}),
                    "val_mae_trees": tree_mae, "val_mae_networks": float(np.abs(nets - truth).mean())}
    # the networks' and trees' val outputs do not depend on the weight: calibrate on them
    checkpoint = _calibrate(ens, train, val, run, log, pred)
    if out is not None:
        _save(checkpoint, out)
    return checkpoint


def select_runs(task: str, data_dir: str | Path, checkpoints, keep: int | None = None,
                log: Callable[[str], None] = print, weighted: bool = False) -> list["RunPart"]:
    """The runs, in order of choice, whose union has the lowest val MAE (greedy forward selection).

    Start from the best run; add the run that lowers the val MAE of the ensemble most;
    stop when none does (Caruana et al., ICML 2004). Each run counts with its last
    ``keep`` members, and the ensemble's MAE is that of its better point estimate
    (mixture median or mean), as the calibration will choose. Val only.

    ``weighted``: Caruana's selection *with* replacement over every training run, the
    runs inside earlier merges included (so a weak run of an earlier round can be left
    out): a run may be chosen again, and a run chosen k times weighs k in the mixture.
    Returns the chosen :class:`RunPart` objects, each once, with its ``count``; pass them
    to :func:`merge_runs` as ``parts``.
    """
    val = load_task_csv(Path(data_dir) / task / "val.csv")
    truth = val.target.to_numpy(np.float64)
    parts = run_parts(task, checkpoints, keep, split=weighted)
    runs = part_outputs(parts, val.formula)
    chosen = greedy_selection(runs, truth, replacement=weighted)
    for j, k in enumerate(chosen):
        mae = greedy_mae([runs[i] for i in chosen[:j + 1]], truth)
        log(f"{task}: + {parts[k].label} → val MAE {mae:.4g}")
    counts = Counter(chosen)
    return [dataclasses.replace(parts[k], count=counts[k]) for k in dict.fromkeys(chosen)]


def _same_training_data(a, b) -> bool:
    """Whether ensembles ``a`` and ``b`` were trained on the same rows, as far as they tell."""
    if a.member_scaling is None and b.member_scaling is None and a.hull is None and b.hull is None:
        # plain runs: the target scaling (float32 sums differ in the last bits)
        return bool(np.allclose([a.target_mean, a.target_std], [b.target_mean, b.target_std], rtol=1e-5, atol=0))
    # a run that learnt the energy above the hull has another scaling: the size of the training
    # split and the number of formulas holding each element
    return all(a.metrics.get(k) == b.metrics.get(k) for k in ("n_train", "element_counts"))


def _is_merge(ens) -> bool:
    """Whether ``ens`` was made by `matfold merge` (not by one training run)."""
    return "merged_from" in ens.metrics


def _kept(ens, keep: int | None) -> slice:
    """The members of a run that a merge keeps: its last ``keep`` snapshots; all of an earlier merge."""
    return slice(None) if keep is None or _is_merge(ens) else slice(-keep, None)


@dataclass
class RunPart:
    """The members one training run gives a merge.

    Either a run's own checkpoint (``split`` is None: its last snapshots, ``members``)
    or the members of an earlier merge: all of them, or (``split`` = i) those of its
    i-th run. ``count`` is how often a weighted selection chose it: each of its members
    weighs ``count`` times its weight within the part.
    """

    path: str
    ensemble: Any
    members: slice
    split: int | None = None
    count: int = 1

    @property
    def label(self) -> str:
        return self.path if self.split is None else f"{self.path} (run {self.split + 1})"

    @property
    def size(self) -> int:
        return len(range(len(self.ensemble.module.members))[self.members])

    def kept(self, keep: int) -> "RunPart":
        """This part with the last ``keep`` snapshots, when it is a run's own checkpoint."""
        return self if _is_merge(self.ensemble) else dataclasses.replace(self, members=_kept(self.ensemble, keep))

    def member_weights(self) -> np.ndarray:
        """The members' weights within the part: those of the earlier merge, else 1."""
        w = self.ensemble.member_weights
        if w is None or self.split is not None:
            return np.ones(self.size)
        return np.asarray(w, np.float64)[self.members]

    def records(self) -> list[dict]:
        """The ``merged_from`` records of the runs in this part, weighted by ``count``."""
        ens = self.ensemble
        if not _is_merge(ens):
            m = ens.metrics
            records = [{**{k: m.get(k) for k in ("seed", "epochs", "batch_size", "lr", "loss", "batching",
                                                 "trained_with", "init_from", "val_mae")},
                        "dropout": ens.config.dropout, "cell_size": ens.config.cell_size,
                        "hull_offset": ens.config.hull_offset, "d_model": ens.config.d_model,
                        "members": self.size}]
        elif self.split is not None:
            records = [ens.metrics["merged_from"][self.split]]
        else:
            records = ens.metrics["merged_from"]
        out = []
        for r in records:  # a split part's count already holds its earlier weight
            weight = self.count * (1 if self.split is not None else r.get("weight", 1))
            r = {k: v for k, v in r.items() if k != "weight"}
            out.append({**r, "weight": weight} if weight != 1 else r)
        return out


def run_parts(task: str, checkpoints, keep: int | None = None, split: bool = False) -> list[RunPart]:
    """The runs in ``checkpoints``: each file one part, or with ``split`` each run inside a merge.

    A merge is split only when its record says how many members each of its runs gave
    (merges from before that was counted stay whole).
    """
    parts: list[RunPart] = []
    first = None
    for path in checkpoints:
        ens = CompositionEnsemble.load(path)
        if ens.task != task:
            raise MatfoldInputError(f"{path} is a {ens.task} model, not {task}")
        first = first or ens
        if not _same_training_data(ens, first):
            raise MatfoldInputError(f"cannot merge {task} runs with different training data ({path})")
        records = ens.metrics.get("merged_from")
        n = len(ens.module.members)
        if split and records and sum(r.get("members") or 0 for r in records) == n:
            start = 0
            for i, r in enumerate(records):
                parts.append(RunPart(str(path), ens, slice(start, start + r["members"]), split=i,
                                     count=int(r.get("weight", 1))))
                start += r["members"]
        else:
            parts.append(RunPart(str(path), ens, _kept(ens, keep)))
    return parts


@dataclass
class RunOutputs:
    """One run's kept members on the selection rows: locations and Laplace scales, (n, M), target unit.

    ``weights`` (M,) are the members' weights in the mixture (default 1 each): those an
    earlier weighted merge gave them.
    """

    mus: np.ndarray
    scales: np.ndarray
    weights: np.ndarray | None = None

    def __post_init__(self):
        if self.weights is None:
            self.weights = np.ones(self.mus.shape[1])

    def rows(self, index) -> "RunOutputs":
        return RunOutputs(self.mus[index], self.scales[index], self.weights)


def part_outputs(parts: Sequence[RunPart], formulas) -> list[RunOutputs]:
    """Each part's members on ``formulas`` (each checkpoint is run once)."""
    preds: dict[int, Any] = {}
    encoded: dict[bool, tuple] = {}  # by whether the ensemble takes amounts or fractions
    outs = []
    for p in parts:
        ens = p.ensemble
        if id(ens) not in preds:
            if ens.takes_amounts not in encoded:
                encoded[ens.takes_amounts] = ens.encode(formulas)
            preds[id(ens)] = ens.predict_arrays(*encoded[ens.takes_amounts], trees=False)
        pred = preds[id(ens)]
        outs.append(RunOutputs(pred.members[:, p.members], pred.scales[:, p.members], p.member_weights()))
    return outs


def run_outputs(task: str, checkpoints, formulas, keep: int | None = None) -> list[RunOutputs]:
    """Each run's last ``keep`` members (merges: all) on ``formulas``."""
    return part_outputs(run_parts(task, checkpoints, keep), formulas)


def greedy_mae(runs: Sequence[RunOutputs], truth) -> float:
    """Val MAE of the union of ``runs`` (a run listed twice weighs twice; each member
    with its weight): of its mixture median or mean, whichever is lower."""
    mus = np.concatenate([r.mus for r in runs], axis=1)
    scales = np.concatenate([r.scales for r in runs], axis=1)
    weights = np.concatenate([r.weights for r in runs])
    mean = np.average(mus, axis=1, weights=weights)
    return float(min(np.abs(mean - truth).mean(),
                     np.abs(laplace_mixture_median(mus, scales, weights=weights) - truth).mean()))


def greedy_selection(runs: Sequence[RunOutputs], truth, replacement: bool = False,
                     max_picks: int | None = None, patience: int = 10) -> list[int]:
    """Indices of the runs chosen by greedy forward selection, in order of choice.

    ``runs[k]`` holds run k's members on the selection rows; ``truth`` the targets (shape (n,)).
    A run with more members weighs more in the union, as it does in the merged ensemble.
    Without replacement, selection stops when no run lowers the MAE. With ``replacement``
    a run may be chosen again (it then appears again in the list), and selection goes on
    through up to ``patience`` picks that do not lower the MAE, as a pick that does not
    help alone may let a later one help (up to ``max_picks`` picks in all, default 3 per
    run); the picks up to the lowest MAE are returned.
    """
    chosen: list[int] = []
    best, best_len = np.inf, 0
    limit = (max_picks or 3 * len(runs)) if replacement else len(runs)
    while len(chosen) < limit:
        mae, k = min((greedy_mae([runs[j] for j in chosen + [k]], truth), k)
                     for k in range(len(runs)) if replacement or k not in chosen)
        if mae >= best and (not replacement or len(chosen) + 1 - best_len > patience):
            break
        chosen.append(k)
        if mae < best:
            best, best_len = mae, len(chosen)
    return chosen[:best_len]


def element_counts(formulas) -> dict[str, int]:
    """How many training formulas contain each element (the model's domain)."""
    counts: dict[str, int] = {}
    for f in formulas:
        for sym in parse_formula(f):
            counts[sym] = counts.get(sym, 0) + 1
    return dict(sorted(counts.items()))


def _bar(total: int, desc: str, enabled: bool):
    try:
        from tqdm.auto import tqdm

        return tqdm(total=total, desc=desc, disable=not enabled, unit="epoch")
    except ImportError:  # tqdm is in the ml extra; training works without it
        class _Null:
            def update(self, n):
                pass

            def close(self):
                pass

        return _Null()
