"""Training the composition ensembles (``matfold train --task TASK``).

One run per task: AdamW with a one-cycle warm-up and cosine decay over 70 % of the
epochs, then five short cycles whose ends are kept as the ensemble members (fast
geometric ensembling, Garipov et al., NeurIPS 2018). The loss is the Laplace
negative log-likelihood of the standardised target, so each member also predicts
an aleatoric scale. Validation data choose nothing but the uncertainty calibration
factor; they are reported, never trained on. Everything is seeded.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import MatfoldInputError
from .compnet import CompNet, CompNetConfig, encode_compositions
from .tasks import TASKS

__all__ = ["TrainingPlan", "plan_for", "load_task_csv", "train_task", "merge_runs", "element_counts"]


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


def plan_for(n_train: int, budget: int = 800_000) -> TrainingPlan:
    """A plan that sees about ``budget`` training samples in all (at least 20, at most 300 epochs)."""
    epochs = int(min(300, max(20, budget // max(n_train, 1))))
    batch = 128 if n_train < 10_000 else 256
    return TrainingPlan(epochs=epochs, batch_size=batch)


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
    import torch

    if task not in TASKS:
        raise MatfoldInputError(f"unknown task {task!r}; choose one of: {', '.join(TASKS)}")
    torch.set_num_threads(threads)
    folder = Path(data_dir) / task
    train = load_task_csv(folder / "train.csv")
    val = load_task_csv(folder / "val.csv")
    plan = plan or plan_for(len(train))
    cfg = plan.config or CompNetConfig()
    torch.manual_seed(plan.seed)
    rng = np.random.default_rng(plan.seed)

    idx, frac = encode_compositions(train.formula)
    y = train.target.to_numpy(np.float32)
    mean, std = float(y.mean()), float(y.std())
    idx_t, frac_t = torch.from_numpy(idx), torch.from_numpy(frac)
    y_t = torch.from_numpy((y - mean) / std)
    model = CompNet(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=plan.lr, weight_decay=plan.weight_decay)
    lr_at = _schedule(plan.epochs, plan.members, plan.lr)
    steps = math.ceil(len(train) / plan.batch_size)
    cycle = _cycle_epochs(plan.epochs, plan.members)
    snapshot_at = {plan.epochs - cycle * k for k in range(plan.members)}
    members: list[dict] = []
    bar = _bar(plan.epochs, f"train {task}", progress)
    started = time.perf_counter()
    for epoch in range(plan.epochs):
        model.train()
        order = torch.from_numpy(rng.permutation(len(train)))
        for s in range(steps):
            for group in opt.param_groups:
                group["lr"] = lr_at(epoch + s / steps)
            j = order[s * plan.batch_size:(s + 1) * plan.batch_size]
            out_ = model(idx_t[j], frac_t[j])
            mu, log_b = out_[:, 0], out_[:, 1].clamp(-7, 5)
            loss = (torch.abs(mu - y_t[j]) * torch.exp(-log_b) + log_b).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
        if epoch + 1 in snapshot_at and len(members) < plan.members:
            members.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        bar.update(1)
    bar.close()
    elapsed = time.perf_counter() - started

    from .ensemble import CompositionEnsemble  # the same code that serves predictions

    ens = CompositionEnsemble.from_members(task, cfg, members, mean, std)
    run = {"epochs": plan.epochs, "batch_size": plan.batch_size, "seed": plan.seed,
           "train_seconds": round(elapsed, 1)}
    checkpoint = _calibrate(ens, train, val, run, log)
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        torch.save(checkpoint, out)
    return checkpoint


def _calibrate(ens, train, val, run: dict, log: Callable[[str], None]) -> dict:
    """Val MAE, the 1σ calibration factor and the domain of ``ens``; returns its checkpoint."""
    vidx, vfrac = encode_compositions(val.formula)
    pred = ens.predict_arrays(vidx, vfrac)
    truth = val.target.to_numpy(np.float64)
    err = np.abs(pred.mean - truth)
    member_mae = [float(np.abs(m - truth).mean()) for m in pred.members]
    z = err / np.maximum(pred.raw_std, 1e-12)
    # one factor so that 68.3 % of val errors fall within 1 sigma
    scale = float(np.quantile(z, 0.6827))
    within1 = float(np.mean(err <= scale * pred.raw_std))
    within2 = float(np.mean(err <= 2 * scale * pred.raw_std))
    idx, _ = encode_compositions(train.formula)
    checkpoint = ens.checkpoint(
        calibration=scale,
        metrics={
            "val_mae": float(err.mean()),
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
        f"{ens.task}: val MAE {err.mean():.4g} (CrabNet test {TASKS[ens.task].crabnet_mae}); "
        f"{len(member_mae)} members " + ", ".join(f"{m:.4g}" for m in member_mae)
        + f"; within 1σ {within1:.3f}, 2σ {within2:.3f}"
        + (f"; {run['train_seconds']:.0f} s" if "train_seconds" in run else "")
    )
    return checkpoint


def merge_runs(task: str, data_dir: str | Path, checkpoints, out: str | Path | None = None,
               log: Callable[[str], None] = print) -> dict:
    """One ensemble from the members of several runs of ``task`` (e.g. two seeds), recalibrated on val.

    Independent runs disagree more than the snapshots of one run, so their union is a
    better ensemble. All runs must share the architecture and the training data.
    """
    import torch

    from .ensemble import CompositionEnsemble

    runs = [CompositionEnsemble.load(p) for p in checkpoints]
    first = runs[0]
    for other in runs[1:]:
        if (other.task, other.config, other.target_mean, other.target_std) != (
                first.task, first.config, first.target_mean, first.target_std) or other.task != task:
            raise MatfoldInputError(f"cannot merge {task} runs with different tasks, sizes or training data")
    states = [m.state_dict() for r in runs for m in r.module.members]
    merged = CompositionEnsemble(task, first.config, states, first.target_mean, first.target_std)
    folder = Path(data_dir) / task
    run = {"merged_from": [{k: r.metrics.get(k) for k in ("seed", "epochs", "batch_size", "val_mae")}
                           for r in runs],
           "seed": [r.metrics.get("seed") for r in runs], "epochs": first.metrics.get("epochs")}
    checkpoint = _calibrate(merged, load_task_csv(folder / "train.csv"), load_task_csv(folder / "val.csv"),
                            run, log)
    if out is not None:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        torch.save(checkpoint, out)
    return checkpoint


def element_counts(formulas) -> dict[str, int]:
    """How many training formulas contain each element (the model's domain)."""
    from .composition import parse_formula

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
